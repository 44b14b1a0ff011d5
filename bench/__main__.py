"""``python -m bench [--quick] [--only NAME[,NAME]] [--out DIR]``: run the benchmarks, record them.

Writes ``DIR/latest.json`` (default ``bench/results``) and appends one dated row to
``bench/RESULTS.md``. Exit code 0 when every figure was measured (targets missed or not),
1 when a figure failed to run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import DEFAULT_DATA_DIR, RESULTS_DIR, RESULTS_MD, Context

# Figure name → module; run in this order (the cheap, noise-sensitive ones first).
FIGURES = {
    "overhead": "bench.overhead",
    "training_speed": "bench.training_speed",
    "scaling": "bench.scaling",
    "startup": "bench.startup",
    "pruning": "bench.pruning",
    "storage": "bench.storage_throughput",
    "final_stage": "bench.final_stage",
    "augmentation": "bench.augmentation",
    "gpu": "bench.gpu",
    "search_quality": "bench.search_quality",
}
# Hours in full mode on 2 cores: a plain full run leaves it out; run it by name (--only search_quality).
LONG_FIGURES = ("search_quality",)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="pairsearch benchmarks: overhead, training speed, worker scaling, start-up, pruning, "
        "storage, final stage, augmentation, GPU, search quality. Results go to OUT/latest.json and a row of bench/RESULTS.md.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: 9 minutes on a quiet 2-core box (search_quality about 5 of them)")
    parser.add_argument("--only", type=figure_names, default=None,
                        help=f"comma-separated figures to run (default all; a full run leaves out {', '.join(LONG_FIGURES)}): {','.join(FIGURES)}")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for latest.json [bench/results]")
    parser.add_argument("--results-md", type=Path, default=RESULTS_MD, help="table to append the row to")
    parser.add_argument("--no-record", action="store_true", help="do not append a row to the results table")
    parser.add_argument("--note", default="", help="text for the row's note column")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("PAIRSEARCH_DATA_DIR", DEFAULT_DATA_DIR)),
                        help="pairsearch data dir (pool cache built there once) [storage/data]")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (storages, study files)")
    args = parser.parse_args(argv)
    if args.only is None:
        args.only = [name for name in FIGURES if args.quick or name not in LONG_FIGURES]
    return args


def figure_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIGURES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown figure {', '.join(unknown) or text!r}; choose from {', '.join(FIGURES)}")
    return [name for name in FIGURES if name in names]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import optuna
    import torch

    from bench.common import machine_facts, prepare_data
    from bench.results import append_row, write_latest

    started = time.perf_counter()
    machine = machine_facts()
    torch.set_num_threads(1)  # this process only coordinates; the workers get the cores
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # as the CLI: figures, not every trial
    work = Path(tempfile.mkdtemp(prefix="pairsearch-bench-"))
    source = prepare_data(data_dir=args.data_dir)
    ctx = Context(quick=args.quick, work=work, data_dir=args.data_dir.resolve(), source=source)
    document = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine,
        "data_source": source,
        "note": args.note,
        "figures": {},
    }
    say(f"bench ({document['mode']}): {', '.join(args.only)}; scratch {work}")
    try:
        for name in args.only:
            document["figures"][name] = run_figure(name, ctx=ctx)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    document["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    document["total_seconds"] = round(time.perf_counter() - started, 1)
    document["targets"] = {
        name: target for result in document["figures"].values() for name, target in result.get("targets", {}).items()
    }
    latest = write_latest(document, out_dir=args.out)
    record_gpu(document, out_dir=args.out)
    say(f"wrote {latest} ({document['total_seconds']} s in all)")
    if not args.no_record:
        append_row(document, path=args.results_md)
        say(f"appended a row to {args.results_md}")
    return 1 if any("error" in result for result in document["figures"].values()) else 0


def run_figure(name: str, *, ctx: Context) -> dict:
    say(f"[{name}] running")
    started = time.perf_counter()
    try:
        result = importlib.import_module(FIGURES[name]).run(ctx=ctx)
    except Exception as error:  # noqa: BLE001 -- one broken figure must not lose the others
        result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    result["seconds"] = round(time.perf_counter() - started, 1)
    if "error" in result:
        say(f"[{name}] ERROR after {result['seconds']} s: {result['error']}")
    else:
        for column, text in result.get("cells", {}).items():
            say(f"[{name}] {column}: {text}")
        for note in result.get("notes", []):
            say(f"[{name}] note: {note}")
        say(f"[{name}] {result['seconds']} s")
    return result


def record_gpu(document: dict, *, out_dir: Path) -> None:
    """Keep the last measured GPU figures (CI and most machines have no GPU)."""
    import json

    gpu = document["figures"].get("gpu")
    if not gpu or "values" not in gpu or not gpu["values"]:
        return
    record = {"date": document["date"], "machine": document["machine"], "values": gpu["values"],
              "raw": gpu["raw"], "notes": gpu["notes"], "cell": gpu["cells"]["gpu"]}
    (out_dir / "gpu.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
