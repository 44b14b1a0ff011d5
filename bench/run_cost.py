"""run_cost: what an honest answer costs, measured from the storage `make results` wrote.

``python -m bench.run_cost [--storage URL] [--record]`` reads a storage (read-only: nothing is
written to it) and says, for each arch, what its independent searches and its final jobs took:

* tuning: searches, the wall time of each search (the time during which any of its trials
  ran, so a search cut by a session's end counts no pause; its workers shared the machine) and the worker-seconds it trained (the sum
  of its trials' durations), with the epochs trained;
* final stage, per recipe: the jobs at the default final seeds (1000 …), their worker-seconds
  and the longest job (a search that chose a wide network makes the slowest jobs).

Worker-seconds are what a bigger machine divides: at one torch thread per worker, a machine
with N cores runs N workers, so the same work takes about worker-seconds ÷ N there (the
measured 2-worker scaling on 2 cores is 1.9–2.0×, `scaling_2_workers` above). ``--record``
replaces the "Cost of `make results`" section of ``bench/RESULTS.md`` with the table.
"""

from __future__ import annotations

import argparse
import datetime
from collections import defaultdict
from pathlib import Path

from bench.common import REPO, RESULTS_MD, git_commit, trial_seconds

SECTION = "## Cost of `make results` (`bench/run_cost.py`)"
DEFAULT_STORAGE = "sqlite:///storage/results/pairsearch.db"


def measure(*, url: str) -> dict:
    """Per arch: its searches' tuning cost and its final jobs' cost per recipe, from ``url``."""
    import optuna

    from pairsearch.jobs import job_recipe_name
    from pairsearch.records import final_job, is_final_study, study_arch
    from pairsearch.searches import (
        FINAL_FIRST_SEED,  # the default final seeds; earlier runs used 0 …
    )
    from pairsearch.storage.handle import StorageHandle

    storage = StorageHandle.resolve(url=url).open(readonly=True)
    tuning, finals = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for summary in optuna.get_all_study_summaries(storage=storage):
        trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials(deepcopy=False)
        done = [t for t in trials if t.datetime_start and t.datetime_complete]
        if is_final_study(summary):
            for trial in done:
                job = final_job(trial)
                if job is not None and job.seed >= FINAL_FIRST_SEED:
                    finals[study_arch(summary)][job_recipe_name(trial)].append(trial_seconds(trial))
        elif done:
            tuning[study_arch(summary)].append(_search_cost(done))
    return {"tuning": dict(tuning), "finals": {arch: dict(jobs) for arch, jobs in finals.items()}}


def _search_cost(trials: list) -> dict:
    return {"wall_s": busy_seconds(trials), "worker_s": sum(trial_seconds(t) for t in trials),
            "epochs": sum(len(t.intermediate_values) for t in trials), "trials": len(trials)}


def busy_seconds(trials: list) -> float:
    """Seconds during which at least one of ``trials`` ran: a search cut by the end of one
    session and continued in the next counts its running time, not the pause between."""
    busy, end = 0.0, None
    for trial in sorted(trials, key=lambda t: t.datetime_start):
        start, stop = trial.datetime_start, trial.datetime_complete
        if end is None or start > end:
            busy += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            busy += (stop - end).total_seconds()
            end = stop
    return busy


def table(measured: dict) -> str:
    """The Markdown table of :func:`measure`, an arch a row, and the totals."""
    recipes = sorted({recipe for jobs in measured["finals"].values() for recipe in jobs})
    head = ["arch", "searches", "tuning wall s per search (min–max)", "tuning worker-s", "epochs"]
    head += [f"{recipe}: jobs, worker-s (longest job s)" for recipe in recipes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = {"tuning": 0.0, **{recipe: 0.0 for recipe in recipes}}
    for arch, searches in sorted(measured["tuning"].items()):
        walls = [s["wall_s"] for s in searches]
        worker = sum(s["worker_s"] for s in searches)
        totals["tuning"] += worker
        cells = [arch, str(len(searches)), f"{min(walls):.0f}–{max(walls):.0f}", f"{worker:.0f}",
                 str(sum(s["epochs"] for s in searches))]
        for recipe in recipes:
            jobs = measured["finals"].get(arch, {}).get(recipe, [])
            totals[recipe] += sum(jobs)
            cells.append(f"{len(jobs)}, {sum(jobs):.0f} ({max(jobs):.0f})" if jobs else "—")
        lines.append("| " + " | ".join(cells) + " |")
    spent = ", ".join(f"{name} {seconds / 3600:.2f} h" for name, seconds in totals.items())
    total = sum(totals.values()) / 3600
    lines.append(f"\nWorker-hours: {spent}; all together {total:.2f} h: about {total / 2:.1f} h of wall time "
                 f"with 2 workers on 2 cores, about {total / 16:.1f} h on a 16-core machine with 16 one-thread "
                 "workers (an estimate: worker-seconds ÷ workers, as measured for 2). A GPU machine was not "
                 "measured on this run: the H100 row of the table above trained a 10-epoch trial in 1.25 s "
                 "against 17.2 s on one CPU thread. Searches and final jobs spread over machines sharing one "
                 "Postgres storage (docs/scaling-out.md).")
    return "\n".join(lines)


def record(*, text: str, url: str) -> None:
    """Replace (or add) this section of bench/RESULTS.md."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    section = (f"{SECTION}\n\nMeasured {when} UTC from `{url}` at commit {git_commit()} "
               f"(`python -m bench.run_cost --record`):\n\n{text}\n")
    current = RESULTS_MD.read_text(encoding="utf-8")
    if SECTION in current:
        start = current.index(SECTION)
        end = current.find("\n## ", start + len(SECTION))
        current = current[:start] + current[end + 1:] if end != -1 else current[:start]
    RESULTS_MD.write_text(current.rstrip("\n") + "\n\n" + section, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help=f"storage URL [{DEFAULT_STORAGE}]")
    parser.add_argument("--record", action="store_true", help="write the table into bench/RESULTS.md")
    args = parser.parse_args(argv)
    text = table(measure(url=args.storage))
    print(text)
    if args.record:
        record(text=text, url=args.storage)


if __name__ == "__main__":
    import os

    os.chdir(Path(REPO))
    main()
