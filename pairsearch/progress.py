"""What the user sees: status lines, the live display of ``tune`` and ``final-report``, the ``status`` table.

:class:`Display` is what the CLI hands a stage; everything here reads the storage and writes only
to the terminal.
"""

from __future__ import annotations

import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pairsearch.overview import RecipeResult, StudyOverview, read_overview
from pairsearch.redaction import printable
from pairsearch.storage.failures import is_storage_outage
from pairsearch.terminal import say

if TYPE_CHECKING:
    from pairsearch.workers.supervisor import Snapshot

POLL_SECONDS = 1.0


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


def format_epoch(*, record, epochs: int) -> str:
    """One epoch of ``pairsearch train``, on one line."""
    digits = "" if record.digit_accuracy is None else f"  digit_acc={record.digit_accuracy:.4f}"
    return (
        f"epoch {record.epoch:>3}/{epochs}  train_loss={record.train_loss:.4f}  "
        f"train_acc={record.train_accuracy:.4f}  eval_acc={record.eval_accuracy:.4f}"
        f"{digits}  {record.seconds:.2f}s"
    )


def eta_text(*, done_here: int, remaining: int, elapsed: float) -> str:
    if done_here == 0 or remaining <= 0:
        return "—"
    return f"{elapsed / done_here * remaining:,.0f}s"


def literal(text: str) -> Text:
    """User-supplied text (a study or arch name) as rich shows it: every character as it is —
    no markup read into it, control characters shown escaped."""
    return Text(printable(str(text)))


def percent(accuracy: float | None) -> str:
    """An accuracy as every output shows it: ``79.20 %``, or ``—`` where there is none yet."""
    return "—" if accuracy is None else f"{100 * accuracy:.2f} %"


def progress_line(*, name: str, shot: Snapshot, budget: int, elapsed: float, eta: str) -> str:
    c = shot.counts
    best = percent(shot.best_value)
    return (
        f"{literal(name).plain}: finished {c.finished}/{budget} (pruned {c.pruned}) failed {c.failed} "
        f"running {c.running}  best {best}  elapsed {elapsed:,.0f}s  eta {eta}"
    )


def progress_table(*, name: str, shot: Snapshot, budget: int, elapsed: float, eta: str) -> Table:
    c = shot.counts
    table = Table(title=Text("pairsearch tune — study ") + literal(name), show_header=False, min_width=60)
    table.add_row("finished", f"{c.finished}/{budget}  (complete {c.complete}, pruned {c.pruned})")
    table.add_row("failed / running", f"{c.failed} / {c.running}")
    table.add_row("best validation accuracy", percent(shot.best_value))
    table.add_row("best params", format_params(shot.best_params) or "—")
    table.add_row("elapsed / eta", f"{elapsed:,.0f}s / {eta}")
    return table


def watch(
    *, study: optuna.Study, budget: int, keep_watching: Callable[[], bool], quiet: bool
) -> Snapshot:
    """Show progress until ``keep_watching()`` is false; return the final snapshot."""
    # imported here: ``status`` imports this module, not the workers
    from pairsearch.workers.supervisor import snapshot

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


def print_status(*, handle) -> None:
    """``pairsearch status``: every study in the storage, as wide as the terminal (80 columns fit).

    The counts and values form a table (a ``.final`` study one row per recipe); notes on failed
    jobs and each study's params follow, wrapped and indented.
    """
    studies = read_overview(storage=handle.open(readonly=True))
    console = Console(highlight=False)
    console.print(status_table(studies=studies, title=f"studies in {handle.redacted}", width=console.width))
    console.print(wrap(STATUS_LEGEND, width=console.width, indent=2))
    for line in status_notes(studies=studies):
        console.print(wrap(line, width=console.width, indent=4))
    if not studies:
        console.print("no studies yet: start one with pairsearch tune --arch ARCH --trials N")


STATUS_LEGEND = (
    "done: finished trials (complete + pruned, the pruned ones counted again under pruned), or a "
    "<study>.final study's finished jobs. failed: trials that raised or whose worker was stopped; not "
    "counted in done, they are made up for (tune runs other trials, final-report a retry of the job). arch: "
    "left out where the table would not fit the terminal and every study is named after its arch. value: a "
    "tuning study's best validation accuracy; a <study>.final study's mean ± std test accuracy (and number) "
    "of its finished jobs, one row per training recipe: one job is one seeded retraining of the tuned "
    "configuration, retries included. A <study>.final row counts the jobs at the final seeds final-report "
    "uses without --seeds, so its numbers are that report's"
)


def status_table(*, studies: list[StudyOverview], title: str, width: int = 200) -> Table:
    """The counts and values of every study, a final study one row per recipe; no arch column where
    the table would be wider than ``width`` and every study is named after its arch."""
    rows = []
    for study in studies:
        for recipe_label, counts, value in status_cells(study=study):
            states = (TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)
            numbers = (counts[TrialState.COMPLETE] + counts[TrialState.PRUNED], *(counts[state] for state in states))
            rows.append([study.name, study.arch, recipe_label, *map(str, numbers), value])
    headers = ["study", "arch", "recipe", "done", "pruned", "failed", "run", "wait", "value"]
    if _table_width(headers=headers, rows=rows) > width and all(s.name.startswith(s.arch) for s in studies):
        headers, rows = headers[:1] + headers[2:], [row[:1] + row[2:] for row in rows]
    table = Table(title=literal(title), box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    texts = headers.index("done")  # study, (arch,) recipe: stored text, shown literally
    for index, column in enumerate(headers):
        table.add_column(column, **({"overflow": "fold"} if index < texts else
                                    {"justify": "left" if column == "value" else "right", "no_wrap": True}))
    for row in rows:
        table.add_row(*map(literal, row[:texts]), *row[texts:])
    return table


def _table_width(*, headers: list[str], rows: list[list[str]]) -> int:
    """Columns of the table on one line each: the widest cell of each column, one space between."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return sum(widths) + len(widths) - 1


def status_cells(*, study: StudyOverview) -> list[tuple[str, Counter, str]]:
    """(recipe label, counts, value) of each row of ``study``: one for a tuning study, one per recipe of a final one."""
    if not study.is_final:
        best = percent(None if study.best is None else study.best.value)
        return [(study.recipe_name or "—", study.counts, best)]
    rows = [(result.recipe_label, result.counts, mean_text(result=result)) for result in study.results]
    return rows or [("—", study.counts, "—")]


def mean_text(*, result: RecipeResult) -> str:
    """``86.52 ± 0.68 % (15)``: mean ± std test accuracy in percent, and how many jobs."""
    if result.mean is None:
        return "—"
    spread = "" if result.std is None else f" ± {100 * result.std:.2f}"
    return f"{100 * result.mean:.2f}{spread} % ({len(result.values)})"


def status_notes(*, studies: list[StudyOverview]) -> list[str]:
    """Failed jobs (re-run or not), earlier configurations' jobs, and each study's params."""
    notes = []
    for study in studies:
        for result in study.results:
            if result.failed:
                notes.append(f"{study.name} ({result.recipe_label}): {result.failed} failed jobs over "
                             f"{result.failed_attempts} failed attempts (a worker was stopped or killed), "
                             f"{result.rerun} re-run and finished; the value counts each seed once")
        other = [f"{result.other_seeds} {result.recipe_label}" for result in study.results if result.other_seeds]
        if other:
            notes.append(f"{study.name}: {' and '.join(other)} jobs at seeds other than {study.seed_range} (those "
                         "final-report uses without --seeds) are not counted")
        if study.earlier:
            notes.append(f"{study.name}: {study.earlier} jobs of an earlier best trial are not shown")
    for study in studies:
        notes.extend(params_notes(study=study))
    return [literal(note).plain for note in notes]


def params_notes(*, study: StudyOverview) -> list[str]:
    """A tuning study's best params; for a final study, the tuning trial whose params its jobs train."""
    if study.best is not None:
        return [f"{study.name}: {format_params(study.best.params)}"]
    trials = sorted({result.best_trial for result in study.results})
    if trials and study.tuning_study != "?":
        return [f"{study.name}: the params of {study.tuning_study}'s trial #{', #'.join(map(str, trials))}"]
    return [f"{study.name}: {format_params(result.params)}" for result in study.results]


def wrap(text: str, *, width: int, indent: int) -> Text:
    """``text`` wrapped at spaces to ``width``, lines after the first indented by ``indent``."""
    return Text(textwrap.fill(text, width=width, subsequent_indent=" " * indent, break_on_hyphens=False))


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
