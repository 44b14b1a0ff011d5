"""What the final jobs recorded of their runs, summed up: each fact's values, dates, workers, reruns.

The analysis layer's reading of the per-job columns of the results
(:data:`pairsearch.report.results.PROVENANCE_KEYS`, written by
:func:`pairsearch.workers.final_worker.run_provenance`). A column that no job recorded is
"not recorded" — jobs from before it existed — and nothing is filled in from the process that
writes the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

NOT_RECORDED = "not recorded"
# The facts shown value by value, in the order of the table.
FACT_COLUMNS = ["device", "gpu", "cpu", "host", "threads", "pairsearch", "commit", "optuna", "torch", "python"]


@dataclass(frozen=True)
class FactValues:
    """One recorded fact across the jobs.

    Attributes:
        column: The fact, e.g. ``torch``.
        values: (value, archs with it in report order, jobs with it), by value; empty when no job
            recorded the fact. A job that did not record it counts under ``not recorded``.
    """

    column: str
    values: tuple[tuple[str, tuple[str, ...], int], ...]


@dataclass(frozen=True)
class RunRecord:
    """The final jobs' own record of where, when and how they ran.

    Attributes:
        jobs: Jobs with a result.
        facts: One :class:`FactValues` per :data:`FACT_COLUMNS` entry.
        first_start: The earliest recorded start, UTC ISO text (None: none recorded).
        last_finish: The latest recorded end (None: none recorded).
        dated_jobs: Jobs that recorded when they ran.
        workers: Distinct worker processes among the jobs that recorded theirs (None: none did).
        worker_jobs: Jobs that recorded their worker.
        reruns: Jobs that failed at least once (Ctrl-C, a dead worker) and ran again to their
            result: results with a ``reruns`` count above 0 (None: not known for these results).
    """

    jobs: int
    facts: tuple[FactValues, ...]
    first_start: str | None
    last_finish: str | None
    dated_jobs: int
    workers: int | None
    worker_jobs: int
    reruns: int | None


def run_record(*, results: pd.DataFrame, archs: Sequence[str]) -> RunRecord:
    """Sum up the per-job columns of ``results`` (absent columns: not recorded).

    Args:
        results: One row per job with a result, with whichever per-job columns were recorded.
        archs: The labels, in the report's order.

    Returns:
        The :class:`RunRecord`.
    """
    started, finished = _column(results, "started"), _column(results, "finished")
    workers = _column(results, "worker")
    reruns = pd.to_numeric(_column(results, "reruns"), errors="coerce")
    dated = started.notna() & finished.notna()
    return RunRecord(
        jobs=len(results),
        facts=tuple(_fact_values(results=results, column=column, archs=archs) for column in FACT_COLUMNS),
        first_start=started.min() if started.notna().any() else None,
        last_finish=finished.max() if finished.notna().any() else None,
        dated_jobs=int(dated.sum()),
        workers=int(workers.nunique()) if workers.notna().any() else None,
        worker_jobs=int(workers.notna().sum()),
        reruns=int((reruns > 0).sum()) if reruns.notna().any() else None,
    )


def _column(results: pd.DataFrame, column: str) -> pd.Series:
    """The column as text with NaN for every job that did not record it (all NaN when absent)."""
    if column not in results.columns:
        return pd.Series(pd.NA, index=results.index, dtype=object)
    values = results[column]
    return values.where(values.notna(), pd.NA)


def _fact_values(*, results: pd.DataFrame, column: str, archs: Sequence[str]) -> FactValues:
    values = _column(results, column)
    if values.isna().all():
        return FactValues(column=column, values=())
    texts = values.map(lambda value: NOT_RECORDED if pd.isna(value) else _text(value))
    grouped = results.assign(value=texts).groupby("value", sort=True)["arch"]
    return FactValues(column=column, values=tuple(
        (str(value), tuple(a for a in archs if a in set(arch)), len(arch)) for value, arch in grouped))


def _text(value: object) -> str:
    """A recorded value as text: a whole float (a thread count read back from CSV) without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
