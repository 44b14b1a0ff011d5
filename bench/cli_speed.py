"""cli_speed: how fast the answering commands answer, against what a user would write by hand.

``python -m bench.cli_speed [--repeats N] [--record]`` times, each in a fresh process as a user
runs it, interleaved round by round:

* ``pairsearch --help`` and ``pairsearch archs`` (targets: ≤ 0.5 s), beside the hand-written
  ``python -c "from pairsearch.training.models import ARCHS; print(...)"``;
* ``pairsearch status`` on a copy of the published results' storage (``docs/results/pairsearch.db``,
  58 studies, 6198 trials; target ≤ 1.5 s), beside the hand-written
  ``optuna.get_all_study_summaries(storage=URL, include_best_trial=True)``, and two floors of a
  reader written by hand with Optuna's API: ``optuna.get_all_study_names(storage=URL)`` (import
  optuna, open the storage through ``RDBStorage`` — SQLAlchemy, Optuna's schema check with
  alembic —, list the studies; ``status`` opens it without alembic, see
  ``pairsearch.storage.rdb.ReaderRDBStorage``) and ``python -c "import optuna"``;
* ``pairsearch data info`` on a scratch data dir (mnist5k, its cache built and described in the
  warm-up round; no target: it must not import torch), beside the hand-written
  ``torch.load(CACHE, weights_only=True)`` of the pool cache.

Each cell is the median wall time and, in brackets, the median CPU time (user + system) of the
process; a target is checked on both. On a shared machine the wall time grows with the load
(recorded at the start and end), the CPU time much less. Results go to
``bench/results/cli_speed.json``; ``--record`` appends a row to the "CLI speed" table of
``bench/RESULTS.md``.
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
TARGETS = {"help": 0.5, "archs": 0.5, "status": 1.5}  # median seconds (wall, and CPU) on the 2-core dev box
SECTION = "## CLI speed (`bench/cli_speed.py`)"
SUMMARIES = ("import sys, optuna; s = optuna.get_all_study_summaries(storage=sys.argv[1], include_best_trial=True); "
             "print([(x.study_name, x.n_trials, x.best_trial and x.best_trial.value) for x in s])")
STUDY_NAMES = "import sys, optuna; print(optuna.get_all_study_names(storage=sys.argv[1]))"
ARCHS_BY_HAND = "from pairsearch.training.models import ARCHS; print(*ARCHS.values(), sep='\\n')"
POOLS_BY_HAND = ("import sys, torch; pools = torch.load(sys.argv[1], weights_only=True)['pools']; "
                 "print({name: (len(t), t.bincount().tolist() if name.endswith('labels') else '') for name, t in pools.items()})")
COLUMNS = ("help", "archs", "archs_by_hand", "status", "summaries_by_hand", "study_names_by_hand", "import_optuna",
           "data_info", "pools_by_hand")


def commands(*, url: str, data_dir: Path) -> dict[str, list[str]]:
    """Every timed command, by name (``data_info`` before ``pools_by_hand``: its warm-up run makes the cache)."""
    python = sys.executable
    return {
        "help": [python, "-m", "pairsearch", "--help"],
        "archs": [python, "-m", "pairsearch", "archs"],
        "archs_by_hand": [python, "-c", ARCHS_BY_HAND],
        "status": [python, "-m", "pairsearch", "status", "--storage", url],
        "summaries_by_hand": [python, "-c", SUMMARIES, url],
        "study_names_by_hand": [python, "-c", STUDY_NAMES, url],
        "import_optuna": [python, "-c", "import optuna"],
        "data_info": [python, "-m", "pairsearch", "data", "info", "--dataset", "mnist5k", "--data-dir", str(data_dir)],
        "pools_by_hand": [python, "-c", POOLS_BY_HAND, str(data_dir / "cache" / "mnist5k-pools.pt")],
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
        timed = commands(url=f"sqlite:///{copy}", data_dir=Path(scratch) / "data")
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
        "bytecode_cache": "off (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on",
        "status_beyond_floor": {  # what status costs beyond a hand-written reader that opens the storage and lists it
            kind: round(medians["status"][kind] - medians["study_names_by_hand"][kind], 3) for kind in ("wall", "cpu")},
        "targets": {name: {"target": f"<= {limit}", "met": medians[name]["wall"] <= limit,
                           "met_cpu": medians[name]["cpu"] <= limit} for name, limit in TARGETS.items()},
    }


def cell(result: dict, name: str) -> str:
    """``wall s (CPU)``, each marked ✓ / ✗ against the command's target where it has one."""
    median, target = result["medians"][name], result["targets"].get(name)
    if target is None:
        return f"{median['wall']:.2f} s ({median['cpu']:.2f})"
    mark = {True: "✓", False: "✗"}
    return f"{median['wall']:.2f} s {mark[target['met']]} ({median['cpu']:.2f} {mark[target['met_cpu']]})"


def row(result: dict) -> str:
    load = f"load {result['load_average'][0]:.1f}→{result['load_average_end'][0]:.1f}"
    return (f"| {result['date'][:16].replace('T', ' ')} | {result['cores']} cores, {load}, {result['commit']}, "
            f"{result['repeats']} rounds | " + " | ".join(cell(result, name) for name in COLUMNS) + " |")


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
