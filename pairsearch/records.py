"""Typed records of what the storage holds between commands (as Optuna's ``FrozenTrial``).

The storage is the interface between ``tune``, ``final-report``, ``status`` and the report, so
what a study holds has a type: a :class:`TunedStudy` is the user attrs of a tuning study. Each
record has ``to_attrs`` / ``from_attrs`` and a schema version; storages written before records
existed (schema 1: no ``schema`` attr, no search, no recipe for the course's training) read
unchanged, with the defaults they implied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pairsearch.errors import PairsearchError

SCHEMA_VERSION = 2  # 1: before records (no "schema", "search", "search_group", "tuning_seed")
MARKER = "pairsearch"  # written last: only a fully labelled study carries it


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
        recipe: The training recipe's record (None: made before recipes, the course's training).
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
    recipe: dict | None = None
    group: str = ""
    search: int = 0
    tuning_seed: int = 0
    schema: int = SCHEMA_VERSION

    @property
    def spec_table(self) -> dict:
        """The stored spec as a dict."""
        return json.loads(self.spec)

    def to_attrs(self) -> dict:
        """The user attrs to write, the marker last."""
        return {
            "schema": self.schema, "arch": self.arch, "spec": self.spec, "spec_hash": self.spec_hash,
            "epochs": self.epochs, "data_source": self.data_source, "data_fingerprint": self.data_fingerprint,
            "versions": self.versions, "recipe": self.recipe, "search_group": self.group,
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
            versions=attrs.get("versions") or {}, recipe=attrs.get("recipe"),
            group=attrs.get("search_group") or study_name, search=_read(attrs, "search", int, study_name, 0),
            tuning_seed=_read(attrs, "tuning_seed", int, study_name, seed),
            schema=_read(attrs, "schema", int, study_name, 1),
        )


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
