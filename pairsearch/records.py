"""Typed records of what the storage holds between commands (as Optuna's ``FrozenTrial``).

The storage is the interface between ``tune``, ``final-report``, ``status`` and the report, so
what it holds has a type: a :class:`TunedStudy` (a tuning study's user attrs), a
:class:`FinalStudy` (a ``<study>.final`` study's), a :class:`FinalJob` (an enqueued final
trial's, made from a :class:`pairsearch.jobs.FinalPlan`), :class:`RunFacts` (what any trial records of its
run); a tuning worker's :class:`pairsearch.version.ProcessRecord` is one study user attr per
worker process. Each has ``to_attrs`` / ``from_attrs``; this module is the only one that reads or writes
user attrs by key. Storages written before records existed (schema 1: no ``schema`` attr, no
search, no recipe for the course's training) read unchanged, with the defaults they implied.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import optuna

from pairsearch.errors import PairsearchError
from pairsearch.training.recipes import Recipe, recipe_from_record
from pairsearch.version import ProcessRecord

SCHEMA_VERSION = 2  # 1: before records (no "schema", "search", "search_group", "tuning_seed")
MARKER = "pairsearch"  # written last: only a fully labelled study carries it
FINAL_KIND = "final"


@dataclass(frozen=True)
class TunedStudy:
    """What a tuning study records about itself.

    Attributes:
        arch: The registered arch it tunes.
        spec: The study file as JSON text (:meth:`pairsearch.studyspec.StudySpec.to_json`).
        spec_hash: The spec's identity; a continued study must have the same.
        epochs: Epochs per trial.
        data_source: ``mnist`` or ``mnist5k``.
        data_fingerprint: The pools' fingerprint; a worker with other data refuses to run.
        versions: pairsearch, optuna and torch versions of the process that made it.
        recipe_record: The training recipe's record, at ``epochs`` (:meth:`Recipe.to_record`;
            user attr ``recipe``; None: made before recipes, the course's training).
        group: The study name of search 0 of its group of independent searches.
        search: Which search of the group it is (0 for a single search).
        tuning_seed: The seed of its tuning split, initial weights and batch order.
        schema: The schema version it was written with.
    """

    arch: str
    spec: str
    spec_hash: str
    epochs: int
    data_source: str
    data_fingerprint: str
    versions: dict = field(default_factory=dict)
    recipe_record: dict | None = None
    group: str = ""
    search: int = 0
    tuning_seed: int = 0
    schema: int = SCHEMA_VERSION

    @property
    def training_recipe(self) -> Recipe:
        """The recipe its trials trained under (the course's at its epochs, for a study from before recipes)."""
        return recipe_from_record(self.recipe_record, epochs=self.epochs)

    @property
    def spec_table(self) -> dict:
        """The stored spec as a dict."""
        return json.loads(self.spec)

    def to_attrs(self) -> dict:
        """The user attrs to write, the marker last."""
        return {
            "schema": self.schema, "arch": self.arch, "spec": self.spec, "spec_hash": self.spec_hash,
            "epochs": self.epochs, "data_source": self.data_source, "data_fingerprint": self.data_fingerprint,
            "versions": self.versions, "recipe": self.recipe_record, "search_group": self.group,
            "search": self.search, "tuning_seed": self.tuning_seed, MARKER: True,
        }

    @classmethod
    def from_attrs(cls, attrs: dict, *, study_name: str) -> TunedStudy:
        """The record a tuning study's user attrs hold.

        Raises:
            PairsearchError: an attr is missing or of the wrong type (one line naming the study
                and the attr: hand-edited or corrupted state).
        """
        spec = _read(attrs, "spec", str, study_name)
        try:
            seed = json.loads(spec).get("seed", 0)
        except (json.JSONDecodeError, AttributeError):
            raise PairsearchError(f"study {study_name!r}: user attr 'spec' is not a JSON table") from None
        return cls(
            arch=_read(attrs, "arch", str, study_name), spec=spec,
            spec_hash=_read(attrs, "spec_hash", str, study_name), epochs=_read(attrs, "epochs", int, study_name),
            data_source=_read(attrs, "data_source", str, study_name),
            data_fingerprint=_read(attrs, "data_fingerprint", str, study_name),
            versions=attrs.get("versions") or {}, recipe_record=attrs.get("recipe"),
            group=attrs.get("search_group") or study_name, search=_read(attrs, "search", int, study_name, 0),
            tuning_seed=_read(attrs, "tuning_seed", int, study_name, seed),
            schema=_read(attrs, "schema", int, study_name, 1),
        )


@dataclass(frozen=True)
class FinalJob:
    """One seeded final run: what to train and which plan it belongs to.

    It trains ``epochs`` under the recipe ``recipe_record`` records (user attr ``recipe``): the
    plan's :attr:`~pairsearch.jobs.FinalPlan.recipe_record`, the recipe as chosen, whose own
    epochs differ from ``epochs`` where ``--epochs`` said so; None for a job made before recipes
    existed, which ran the course's training. :attr:`training_recipe` puts the two together.
    """

    seed: int
    arch: str
    params: dict
    epochs: int
    config_hash: str
    data_source: str
    data_fingerprint: str
    best_trial: int
    recipe_record: dict | None = None

    @property
    def training_recipe(self) -> Recipe:
        """The recipe this job trains with, at the job's own epochs (its record keeps the recipe's
        own where ``--epochs`` overrode them: the stored form, read here and nowhere else)."""
        return dataclasses.replace(recipe_from_record(self.recipe_record, epochs=self.epochs), epochs=self.epochs)

    def to_attrs(self) -> dict:
        """The user attrs of its enqueued trial (the record's fields, ``recipe_record`` as ``recipe``)."""
        return {_JOB_ATTRS.get(name, name): value for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_attrs(cls, attrs: dict) -> FinalJob | None:
        """The job a trial's user attrs hold, or None for a trial that is no job."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        keys = {name: _JOB_ATTRS.get(name, name) for name in fields}
        if any(keys[name] not in attrs for name, f in fields.items() if f.default is dataclasses.MISSING):
            return None
        return cls(**{name: attrs[key] for name, key in keys.items() if key in attrs})


_JOB_ATTRS = {"recipe_record": "recipe"}  # a FinalJob field → its user attr, where the names differ


@dataclass(frozen=True)
class FinalStudy:
    """What a ``<study>.final`` study records about itself: its arch and the tuned study it serves."""

    arch: str
    tuning_study: str

    def to_attrs(self) -> dict:
        """The user attrs to write, the marker last."""
        return {"kind": FINAL_KIND, "arch": self.arch, "tuning_study": self.tuning_study, MARKER: True}

    @classmethod
    def from_attrs(cls, attrs: dict, *, study_name: str) -> FinalStudy:
        """The record a final study's user attrs hold (a bad attr: one line naming it)."""
        return cls(arch=_read(attrs, "arch", str, study_name), tuning_study=_read(attrs, "tuning_study", str, study_name))


@dataclass(frozen=True)
class RunFacts:
    """What a trial records of its run as it goes (a tuning trial or a final job alike).

    Attributes:
        stop_reason: Why it ended (``completed``, ``pruned``, ``diverged``, ``interrupted``, …).
        epochs_run: Epochs it trained.
        seconds_per_epoch: Mean wall time of an epoch.
        seconds: Wall time of the whole job.
        n_parameters: The network's parameter count.
        history: Per-epoch metrics (final jobs).
        provenance: Where, when and with what the run ran (final jobs): a
            :class:`~pairsearch.version.ProcessRecord`'s attrs.
        retry_of: The number of the interrupted trial this one repeats.
    """

    stop_reason: str | None = None
    epochs_run: int | None = None
    seconds_per_epoch: float | None = None
    seconds: float | None = None
    n_parameters: int | None = None
    history: list = field(default_factory=list)
    provenance: dict | None = None
    retry_of: int | None = None

    def to_attrs(self) -> dict:
        """The facts that are set, as user attrs."""
        return {name: value for name, value in dataclasses.asdict(self).items() if value not in (None, [])}

    @classmethod
    def from_attrs(cls, attrs: dict) -> RunFacts:
        """The facts a trial's user attrs hold (absent ones None)."""
        return cls(**{f.name: attrs[f.name] for f in dataclasses.fields(cls) if f.name in attrs})


TUNING_WORKER_PREFIX = "tuning worker "  # + worker and start: one study user attr per worker process


def record_tuning_worker(study: optuna.Study, *, record: ProcessRecord) -> None:
    """Write (or rewrite) a tuning worker's record on its study; its key names the worker and its
    start, as a restarted container may reuse host and process id."""
    study.set_user_attr(f"{TUNING_WORKER_PREFIX}{record.worker} {record.started}", record.to_attrs())


def tuning_workers(study) -> tuple[ProcessRecord, ...]:
    """The worker processes a tuning study (or its summary) recorded, by start (none before records)."""
    found = (ProcessRecord.from_attrs(value) for key, value in study.user_attrs.items()
             if key.startswith(TUNING_WORKER_PREFIX))
    return tuple(sorted(filter(None, found), key=lambda record: record.started or ""))


def record_run(trial: optuna.trial.BaseTrial, **facts) -> None:
    """Write facts of ``trial``'s run (keyword names of :class:`RunFacts`) to its user attrs."""
    for name, value in RunFacts(**facts).to_attrs().items():
        trial.set_user_attr(name, value)


def run_facts(trial: optuna.trial.FrozenTrial) -> RunFacts:
    """What ``trial`` recorded of its run."""
    return RunFacts.from_attrs(trial.user_attrs)


def final_job(trial: optuna.trial.FrozenTrial) -> FinalJob | None:
    """The job ``trial`` holds, or None for a trial that is no job."""
    return FinalJob.from_attrs(trial.user_attrs)


def enqueue_job(study: optuna.Study, *, job: FinalJob) -> None:
    """Queue ``job`` as a trial of its ``<study>.final`` study."""
    study.enqueue_trial({"seed": job.seed}, user_attrs=job.to_attrs())


def enqueue_retry(study: optuna.Study, *, params: dict, retry_of: int, job: FinalJob | None) -> None:
    """Queue ``params`` again for the interrupted trial ``retry_of``, with the ``job`` it ran (None
    for a tuning trial): a final worker trains only a trial that carries its job."""
    job_attrs = job.to_attrs() if job is not None else {}
    study.enqueue_trial(params, user_attrs={**job_attrs, **RunFacts(retry_of=retry_of).to_attrs()})


def tuned_study(study, *, study_name: str) -> TunedStudy:
    """The :class:`TunedStudy` of a tuning study (or its summary)."""
    return TunedStudy.from_attrs(study.user_attrs, study_name=study_name)


def final_study(study, *, study_name: str) -> FinalStudy:
    """The :class:`FinalStudy` of a ``<study>.final`` study (or its summary)."""
    return FinalStudy.from_attrs(study.user_attrs, study_name=study_name)


def study_arch(study) -> str:
    """The arch a study (or its summary) names, ``?`` where it names none (a foreign study)."""
    arch = study.user_attrs.get("arch")
    return arch if isinstance(arch, str) else "?"


def is_labelled(study) -> bool:
    """Whether a study (or its summary) carries pairsearch's marker (written last: fully labelled)."""
    return bool(study.user_attrs.get(MARKER))


def is_final_study(study) -> bool:
    """Whether a study (or its summary) is a ``<study>.final`` study."""
    return study.user_attrs.get("kind") == FINAL_KIND


def label_study(study: optuna.Study, *, record: TunedStudy | FinalStudy) -> None:
    """Write ``record`` to ``study``'s user attrs, the marker last: only a fully labelled study is checked."""
    attrs = record.to_attrs()
    marker = attrs.pop(MARKER)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    study.set_user_attr(MARKER, marker)


def note_tune_started(study: optuna.Study, *, when: str) -> None:
    """Record when a ``tune`` last continued ``study`` (its first write: a read-only storage fails here)."""
    study.set_user_attr("last_tune_started", when)


_MISSING = object()


def _read(attrs: dict, key: str, kind: type, study_name: str, default=_MISSING):
    """``attrs[key]`` checked to be ``kind`` (a bool is no int), or ``default`` when absent."""
    if key not in attrs:
        if default is _MISSING:
            raise PairsearchError(f"study {study_name!r}: user attr {key!r} is missing (hand-edited or corrupted)")
        return default
    value = attrs[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PairsearchError(f"study {study_name!r}: user attr {key!r} is not {kind.__name__}: {value!r}"[:300])
    return value
