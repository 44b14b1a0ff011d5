"""An optuna-dashboard note on each ``<study>.final`` study: what its trials are, and what not to read.

optuna-dashboard shows any study as a search: a "Best Trial", a best-so-far line, and "seed" as
the most important param. In a final study a trial is one seeded retraining of the tuned
configuration, so its best trial is only the luckiest seed. ``final-report`` writes the note
(Markdown, :func:`optuna_dashboard.save_note`) beside the report: the result per recipe, as
mean ± std and a 95 % interval over seeds. A note already up to date is not written again, so a
re-run with nothing new writes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import optuna

from pairsearch.errors import PairsearchError
from pairsearch.overview import RecipeResult, StudyOverview, read_overview
from pairsearch.searches import FINAL_SUFFIX
from pairsearch.storage.failures import is_storage_failure
from pairsearch.storage.handle import StorageHandle


def write_dashboard_notes(*, handle: StorageHandle, studies: list[str], say: Callable[[str], None]) -> None:
    """Write (where changed) the note of the final study of each tuned study in ``studies``.

    A storage that refuses the write (read-only) costs the notes, never the report: one line says so.
    """
    names = {f"{name}{FINAL_SUFFIX}" for name in studies}
    overviews = [study for study in read_overview(storage=handle.open(readonly=True), names=names)
                 if study.results]
    notes = [(study.name, note_body(study=study)) for study in overviews]
    stale = [(name, body) for name, body in notes if _stored_note(handle, name) != body]
    if not stale:
        return
    try:
        storage = handle.open()
        for name, body in stale:
            _save_note(storage=storage, study_name=name, body=body)
    except Exception as error:  # a read-only or vanished storage: the notes are lost, the report stands
        if not (isinstance(error, PairsearchError) or is_storage_failure(error)):
            raise
        say(f"the optuna-dashboard notes of the final studies were not written: {str(error)[:200]}")


def note_body(*, study: StudyOverview) -> str:
    """The note of one final study, in Markdown."""
    rows = "\n".join(_row(result) for result in study.results)
    trials = ", ".join(f"#{number}" for number in sorted({result.best_trial for result in study.results}))
    return f"""## {study.name}: final test accuracy of {study.tuning_study}'s tuned configuration

Each trial here is **one seeded retraining** of the configuration that trial {trials} of
`{study.tuning_study}` chose, scored once on fresh test pairs after its last epoch. The seed is the
only thing that changes from trial to trial.

| recipe | finished jobs | mean ± std test accuracy | 95 % interval of the mean |
|---|---|---|---|
{rows}

The table counts the jobs at the final seeds {study.seed_range}, those `pairsearch final-report` uses
without `--seeds`: its numbers are that report's.{_other_seeds(study)}

**"Best Trial" and the best-value line show the luckiest seed, not a better configuration**, and
"seed" tops the parameter importances only because it is the one value that varies; trials of
every recipe above are mixed in the dashboard's plots. Read the means, or the report of
`pairsearch final-report`. The interval is a t-interval over seeds: it leaves out the luck of the
search that chose the configuration.{_failures(study)}
"""


def _row(result: RecipeResult) -> str:
    if result.mean is None:
        return f"| {result.recipe_label} | 0 | — | — |"
    spread = "—" if result.std is None else f"{100 * result.std:.2f}"
    return (f"| {result.recipe_label} | {len(result.values)} | {100 * result.mean:.2f} ± {spread} % "
            f"| {_interval(result)} |")


def _interval(result: RecipeResult) -> str:
    """The 95 % t-interval of the mean over seeds, in percent (— for fewer than two seeds)."""
    if result.std is None:
        return "—"
    from scipy import stats

    half = stats.t.ppf(0.975, len(result.values) - 1) * result.std / math.sqrt(len(result.values))
    return f"{100 * (result.mean - half):.2f} – {100 * (result.mean + half):.2f} %"


def _other_seeds(study: StudyOverview) -> str:
    other = [f"{result.other_seeds} {result.recipe_label}" for result in study.results if result.other_seeds]
    return f" {' and '.join(other)} jobs at other seeds (an earlier run's) are left out." if other else ""


def _failures(study: StudyOverview) -> str:
    lines = []
    for result in study.results:
        if result.failed:
            lines.append(f"{result.failed} {result.recipe_label} job(s) failed (a worker stopped or killed) over "
                         f"{result.failed_attempts} attempts; {result.rerun} of them were re-run and finished, and "
                         "each seed counts once.")
    return "\n\n" + "\n".join(lines) if lines else ""


def _stored_note(handle: StorageHandle, study_name: str) -> str:
    from optuna_dashboard import get_note

    return get_note(optuna.load_study(study_name=study_name, storage=handle.open(readonly=True)))


def _save_note(*, storage, study_name: str, body: str) -> None:
    from optuna_dashboard import save_note

    save_note(optuna.load_study(study_name=study_name, storage=storage), body)
