"""What the user sees: status lines, the live display of ``tune`` and ``final-report``, the ``status`` table.

:class:`Display` is what the CLI hands a stage; everything here reads the storage and writes only
to the terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pairsearch.errors import PairsearchError
from pairsearch.records import (
    FinalJob,
    final_job,
    final_study,
    is_final_study,
    study_arch,
    tuned_study,
)
from pairsearch.redaction import redact_urls
from pairsearch.searches import FINAL_SUFFIX, split_search_name
from pairsearch.storage.failures import is_storage_outage
from pairsearch.workers.supervisor import Snapshot, snapshot

POLL_SECONDS = 1.0


def say(message: str) -> None:
    """A status line for the user, on stderr so stdout stays machine-readable; like an error
    line, it never shows a password (a path or URL it echoes may hold one)."""
    print(redact_urls(message), file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Display:
    """Status lines on stderr (stdout stays machine-readable) and live progress.

    Attributes:
        quiet: Plain progress lines instead of the live table (also when stderr is no terminal).
    """

    quiet: bool = False

    def say(self, message: str) -> None:
        say(message)

    def watch_study(self, *, study: optuna.Study, budget: int, keep_watching: Callable[[], bool]) -> Snapshot:
        return watch(study=study, budget=budget, keep_watching=keep_watching, quiet=self.quiet)

    def watch_jobs(self, *, counts: Callable[[], dict], keep_watching: Callable[[], bool]) -> None:
        watch_jobs(counts=counts, keep_watching=keep_watching, quiet=self.quiet)


def resilient(read: Callable, *, fallback):
    """``read()``, or ``fallback`` while the storage is away: the workers ride out the outage."""
    try:
        return read()
    except Exception as error:
        if not is_storage_outage(error):
            raise
        return fallback


def format_params(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def eta_text(*, done_here: int, remaining: int, elapsed: float) -> str:
    if done_here == 0 or remaining <= 0:
        return "—"
    return f"{elapsed / done_here * remaining:,.0f}s"


def literal(text: str) -> Text:
    """User-supplied text (a study or arch name) as rich shows it: every character as it is —
    no markup read into it, control characters shown escaped."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(text))
    return Text(shown)


def progress_line(*, name: str, shot: Snapshot, budget: int, elapsed: float, eta: str) -> str:
    c = shot.counts
    best = "—" if shot.best_value is None else f"{shot.best_value:.4f}"
    return (
        f"{literal(name).plain}: finished {c.finished}/{budget} (pruned {c.pruned}) failed {c.failed} "
        f"running {c.running}  best {best}  elapsed {elapsed:,.0f}s  eta {eta}"
    )


def progress_table(*, name: str, shot: Snapshot, budget: int, elapsed: float, eta: str) -> Table:
    c = shot.counts
    table = Table(title=Text("pairsearch tune — study ") + literal(name), show_header=False, min_width=60)
    table.add_row("finished", f"{c.finished}/{budget}  (complete {c.complete}, pruned {c.pruned})")
    table.add_row("failed / running", f"{c.failed} / {c.running}")
    table.add_row("best validation accuracy", "—" if shot.best_value is None else f"{shot.best_value:.4f}")
    table.add_row("best params", format_params(shot.best_params) or "—")
    table.add_row("elapsed / eta", f"{elapsed:,.0f}s / {eta}")
    return table


def watch(
    *, study: optuna.Study, budget: int, keep_watching: Callable[[], bool], quiet: bool
) -> Snapshot:
    """Show progress until ``keep_watching()`` is false; return the final snapshot."""
    started = time.monotonic()
    last_shot = [snapshot(study)]  # shown again while the storage is away
    first = last_shot[0].counts.finished
    console = Console(stderr=True)
    last_line = ""

    def render() -> tuple[Snapshot, float, str]:
        shot = last_shot[0] = resilient(lambda: snapshot(study), fallback=last_shot[0])
        elapsed = time.monotonic() - started
        eta = eta_text(done_here=shot.counts.finished - first, remaining=budget - shot.counts.finished, elapsed=elapsed)
        return shot, elapsed, eta

    if quiet or not console.is_terminal:
        while keep_watching():
            shot, elapsed, eta = render()
            line = progress_line(name=study.study_name, shot=shot, budget=budget, elapsed=elapsed, eta=eta)
            if line.split("  elapsed")[0] != last_line.split("  elapsed")[0]:
                print(line, file=sys.stderr, flush=True)
                last_line = line
            time.sleep(POLL_SECONDS)
        return resilient(lambda: snapshot(study), fallback=last_shot[0])
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while keep_watching():
            shot, elapsed, eta = render()
            live.update(progress_table(name=study.study_name, shot=shot, budget=budget, elapsed=elapsed, eta=eta))
            time.sleep(POLL_SECONDS)
        shot, elapsed, eta = render()
        live.update(progress_table(name=study.study_name, shot=shot, budget=budget, elapsed=elapsed, eta=eta))
    return shot


def status_rows(storage) -> list[dict]:
    """One row per study in the storage, for ``pairsearch status``.

    A tuning study shows its best validation accuracy and params; a ``<study>.final`` study the
    mean ± std test accuracy of its current configuration's finished jobs (never one lucky seed).
    The searches of one group (``tune --repeats``) stand together, in search order; the final
    studies after the tuning ones.
    """
    rows = []
    for summary in optuna.get_all_study_summaries(storage=storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        shot = snapshot(study)
        row = {"study": summary.study_name, "arch": study_arch(summary), "counts": shot.counts,
               "best": shot.best_value, "params": shot.best_params}
        if is_final_study(summary):
            row.update(_current_jobs(study=study, storage=storage))
        else:
            row["value"] = "—" if shot.best_value is None else f"{100 * shot.best_value:.2f} %"
        rows.append(row)
    return sorted(rows, key=_status_order)


def _status_order(row: dict) -> tuple[bool, str, int]:
    tuning = row["study"].removesuffix(FINAL_SUFFIX)
    group, search = split_search_name(tuning)
    return tuning != row["study"], group, search


def _current_jobs(*, study: optuna.Study, storage) -> dict:
    """The current configuration's finished test accuracies (mean ± std, in percent) and params.

    Current: made from the tuning study's best trial at its tuning epochs, under the recipe it
    was tuned with, as a plain ``final-report`` makes them; else the newest jobs (e.g. the
    tuning study is gone).
    """
    jobs = [(trial, job) for trial in study.get_trials(deepcopy=False) if (job := final_job(trial))]
    if not jobs:
        return {"best": None, "value": "—", "params": {}}
    current = _current_config(study=study, storage=storage, jobs=[job for _, job in jobs])
    current = current or max(jobs, key=lambda pair: pair[0].number)[1]
    values = [trial.value for trial, job in jobs if job.config_hash == current.config_hash
              and trial.state == optuna.trial.TrialState.COMPLETE]
    if not values:
        return {"best": None, "value": "—", "params": current.params}
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
    return {"best": None, "value": f"{100 * mean:.2f} ± {100 * std:.2f} % ({len(values)})", "params": current.params}


def _current_config(*, study: optuna.Study, storage, jobs: list[FinalJob]) -> FinalJob | None:
    try:
        tuning_name = final_study(study, study_name=study.study_name).tuning_study
        tuning = optuna.load_study(study_name=tuning_name, storage=storage)
        tuned = tuned_study(tuning, study_name=tuning_name)
        recipe = _trains(tuned.training_recipe)
    except (KeyError, PairsearchError):  # the tuning study gone or its record broken
        return None
    best = snapshot(tuning)
    numbers = {t.number for t in tuning.get_trials(deepcopy=False)
               if t.state == optuna.trial.TrialState.COMPLETE and t.value == best.best_value}
    matching = [job for job in jobs if job.best_trial in numbers and job.epochs == tuned.epochs
                and _job_trains(job) == recipe]
    return max(matching, key=lambda job: job.seed, default=None)


def _job_trains(job: FinalJob) -> str | None:
    """What a job's recipe trains (its content hash), or None for a record that is no recipe."""
    try:
        return _trains(job.training_recipe)
    except PairsearchError:
        return None


def _trains(recipe) -> str:
    return recipe.to_record()["hash"]


def print_status(*, handle) -> None:
    """``pairsearch status``: every study in the storage, as wide as the terminal (80 columns fit).

    The counts and values form a table; each study's params follow on lines of their own.
    """
    rows = status_rows(handle.open(readonly=True))
    table = Table(title=f"studies in {handle.redacted}", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for column in ("study", "arch"):
        table.add_column(column, overflow="fold")
    for column in ("done", "pruned", "failed", "run", "wait"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("value", no_wrap=True)
    for row in rows:
        c = row["counts"]
        table.add_row(literal(row["study"]), literal(row["arch"]), str(c.finished), str(c.pruned), str(c.failed),
                      str(c.running), str(c.waiting), row["value"])
    console = Console(highlight=False)
    console.print(table)
    console.print("value: best validation accuracy of a tuning study; for a <study>.final study, the mean ± std "
                  "test accuracy (and number) of its current configuration's finished jobs")
    for row in rows:
        if row["params"]:
            console.print(literal(row["study"]) + Text(f": {format_params(row['params'])}"))
    if not rows:
        console.print("no studies yet: start one with pairsearch tune --arch ARCH --trials N")


def jobs_line(counts: dict[str, tuple[int, int]]) -> str:
    return "final jobs: " + "  ".join(f"{arch} {done}/{total}" for arch, (done, total) in counts.items())


def watch_jobs(*, counts: Callable[[], dict], keep_watching: Callable[[], bool], quiet: bool) -> None:
    """Show finished/total final jobs per arch until ``keep_watching()`` is false."""
    console = Console(stderr=True)
    last_counts: list[dict] = [{}]

    def read_counts() -> dict:
        last_counts[0] = resilient(counts, fallback=last_counts[0])
        return last_counts[0]

    if quiet or not console.is_terminal:
        last = ""
        while keep_watching():
            line = jobs_line(read_counts())
            if line != last:
                print(line, file=sys.stderr, flush=True)
                last = line
            time.sleep(POLL_SECONDS)
        if jobs_line(read_counts()) != last:
            print(jobs_line(last_counts[0]), file=sys.stderr, flush=True)
        return
    with Live(console=console, refresh_per_second=2) as live:
        while keep_watching():
            live.update(jobs_table(read_counts()))
            time.sleep(POLL_SECONDS)
        live.update(jobs_table(read_counts()))


def jobs_table(counts: dict[str, tuple[int, int]]) -> Table:
    table = Table(title="pairsearch final-report — seeded jobs")
    table.add_column("arch")
    table.add_column("finished")
    for arch, (done, total) in counts.items():
        table.add_row(literal(arch), f"{done}/{total}")
    return table
