"""cli_speed: how fast the answering commands answer, against what a user would write by hand.

``python -m bench.cli_speed [--repeats N] [--record]`` times, each in a fresh process as a user
runs it, interleaved round by round:

* ``pairsearch --help`` and ``pairsearch archs`` (targets: ≤ 0.5 s), beside the hand-written
  ``python -c "from pairsearch.training.models import ARCHS; print(...)"``;
* ``pairsearch status`` on a copy of the published results' storage (``docs/results/pairsearch.db``,
  14 studies, 1614 trials; target ≤ 1.5 s), beside the hand-written
  ``optuna.get_all_study_summaries(storage=URL, include_best_trial=True)`` and the floor
  ``python -c "import optuna"``.

Each cell is the median wall time and, in brackets, the median CPU time (user + system) of the
process: on a shared machine the wall time grows with the load (recorded at the start and end),
the CPU time much less. Results go to ``bench/results/cli_speed.json``; ``--record`` appends a
row to the "CLI speed" table of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, RESULTS_DIR, RESULTS_MD, git_commit

PUBLISHED = REPO / "docs" / "results" / "pairsearch.db"
TARGETS = {"help": 0.5, "archs": 0.5, "status": 1.5}  # median wall seconds on the 2-core dev box
SECTION = "## CLI speed (`bench/cli_speed.py`)"
SUMMARIES = ("import sys, optuna; s = optuna.get_all_study_summaries(storage=sys.argv[1], include_best_trial=True); "
             "print([(x.study_name, x.n_trials, x.best_trial and x.best_trial.value) for x in s])")
ARCHS_BY_HAND = "from pairsearch.training.models import ARCHS; print(*ARCHS.values(), sep='\\n')"


def commands(url: str) -> dict[str, list[str]]:
    """Every timed command, by name."""
    python = sys.executable
    return {
        "help": [python, "-m", "pairsearch", "--help"],
        "archs": [python, "-m", "pairsearch", "archs"],
        "archs_by_hand": [python, "-c", ARCHS_BY_HAND],
        "status": [python, "-m", "pairsearch", "status", "--storage", url],
        "summaries_by_hand": [python, "-c", SUMMARIES, url],
        "import_optuna": [python, "-c", "import optuna"],
    }


def time_once(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``command`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env={**os.environ, "COLUMNS": "80"}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(*, repeats: int) -> dict:
    """Medians over ``repeats`` interleaved rounds, on a scratch copy of the published storage."""
    with tempfile.TemporaryDirectory(prefix="pairsearch-cli-speed-") as scratch:
        copy = Path(scratch) / "pairsearch.db"
        shutil.copy(PUBLISHED, copy)
        timed = commands(f"sqlite:///{copy}")
        load_start = os.getloadavg()
        for command in timed.values():  # warm the file cache: every round then reads from memory
            time_once(command)
        runs = {name: [] for name in timed}
        for _ in range(repeats):
            for name, command in timed.items():
                runs[name].append(time_once(command))
        load_end = os.getloadavg()
    medians = {name: {"wall": round(statistics.median(w for w, _ in pairs), 3),
                      "cpu": round(statistics.median(c for _, c in pairs), 3)} for name, pairs in runs.items()}
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"),
        "commit": git_commit(), "cores": len(os.sched_getaffinity(0)), "repeats": repeats,
        "load_average": [round(x, 2) for x in load_start], "load_average_end": [round(x, 2) for x in load_end],
        "medians": medians, "raw": {name: [[round(w, 3), round(c, 3)] for w, c in pairs] for name, pairs in runs.items()},
        "targets": {name: {"target": f"<= {limit}", "met": medians[name]["wall"] <= limit} for name, limit in TARGETS.items()},
    }


def cell(result: dict, name: str) -> str:
    median = result["medians"][name]
    mark = {True: " ✓", False: " ✗"}.get(result["targets"].get(name, {}).get("met"), "")
    return f"{median['wall']:.2f} s ({median['cpu']:.2f}){mark}"


def row(result: dict) -> str:
    load = f"load {result['load_average'][0]:.1f}→{result['load_average_end'][0]:.1f}"
    names = ("help", "archs", "archs_by_hand", "status", "summaries_by_hand", "import_optuna")
    return (f"| {result['date'][:16].replace('T', ' ')} | {result['cores']} cores, {load}, {result['commit']}, "
            f"{result['repeats']} rounds | " + " | ".join(cell(result, name) for name in names) + " |")


def record(line: str, *, path: Path = RESULTS_MD) -> None:
    """Append ``line`` to the CLI speed table (the last table row of its section)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    last_row = max(i for i in range(start, end) if lines[i].startswith("|"))
    lines.insert(last_row + 1, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds [7]")
    parser.add_argument("--record", action="store_true", help="append a row to bench/RESULTS.md")
    args = parser.parse_args(argv)
    result = measure(repeats=args.repeats)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "cli_speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(row(result))
    if args.record:
        record(row(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
