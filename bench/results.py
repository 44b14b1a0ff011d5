"""Writing results: ``latest.json`` (everything, raw timings included) and a row of RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

# (column, what it shows) in the order of the RESULTS.md table.
COLUMNS = (
    ("date (UTC)", ""),
    ("mode", ""),
    ("machine", ""),
    ("overhead_ratio", "≤ 1.05"),
    ("epoch_ratio", "≤ 0.7"),
    ("scaling_2_workers", "≥ 1.8"),
    ("startup_ratio", "≤ 1.5"),
    ("prune_epoch_fraction", "≤ 0.6"),
    ("prune_best_delta", "≥ −0.5 pts"),
    ("storage_trials_per_s", ""),
    ("final_stage_seconds_per_job", ""),
    ("augment_epoch_ratio", "≤ 1.1"),
    ("gpu", ""),
    ("search_quality", ""),
    ("note", ""),
)

HEADER = """\
# Benchmark results

`python -m bench --quick` (9 minutes on a quiet 2-core machine, measured 2026-11-29: 538 s, of
which search_quality 312 s and epoch_ratio 84 s) or
`make bench` (full mode, every figure but search_quality, whose full mode — estimated at 9–15
hours on 2 cores, resumable across sessions in `bench/results/search_quality/full` — runs by name:
`python -m bench --only search_quality`) appends one row per run
to the table at the end of this file and writes every raw timing to `bench/results/latest.json`;
`--only NAME[,NAME]` runs some figures. Each
figure is measured in the same run as its reference, through the code paths a user runs.

A cell reads *figure = numerator ÷ denominator (details)*, with ✓ / ✗ against its target. A
row is only comparable with rows of the same mode on the same kind of machine: see its
machine cell (cores, torch version, torch threads per worker, 1-minute load average at the
start, commit). Timings taken while other work runs on the machine are noisy: the load
average tells.

| column | what it is | target |
|---|---|---|
| overhead_ratio | one trial's cycle inside a real `pairsearch tune` worker (previous trial's end → its end: budget lock, stale sweep, count, create, suggest, train, `report` + `should_prune` every epoch, user attrs, `tell`; SQLite) ÷ `train_run` of the same config in a fresh 1-thread process, no Optuna (medians). Also shown: a minimal hand-written loop of the same model and tensors, and the SQL statements / commits per epoch | ≤ 1.05 |
| epoch_ratio | seconds per epoch of `train_run` ÷ of the textbook loop around the same network, written in `bench/training_speed.py` (DataLoader, `torch.optim.Adam` + `CosineAnnealingLR`, evaluation every epoch), each in a fresh 1-thread process, medians over rounds; for arch `base` small (32 channels, hidden 128, batch 64) and large (128 channels, hidden 300, batch 16), with both loops' test accuracy after the same epochs | ≤ 0.7 on both |
| scaling_2_workers | finished trials per minute of `tune --workers 2` ÷ `--workers 1`, same small fixed config, first trial start → last trial end | ≥ 1.8 on 2 cores |
| startup_ratio | spawn of a tune worker → end of its first training step ÷ `python -c "import torch"` start → torch imported (medians); stage offsets in the cell | ≤ 1.5 |
| prune_epoch_fraction | epochs trained by a study with the shipped pruner (`[pruner]` of `studies/sep_aux.toml`) ÷ by the same study unpruned (same study file and TPE seed, one worker each: deterministic), mean over 3 (quick) or 5 (full) sampler seeds | ≤ 0.6 |
| prune_best_delta | best validation accuracy pruned − unpruned, percentage points, mean over the same seeds (one seed swings ±3 points): the pruned study may not lose more than 0.5 points (finding a better best is no failure) | ≥ −0.5 |
| storage_trials_per_s | trivial trials per second through pairsearch's budget loop (lock included) at 1/4/8 worker processes, for SQLite, a journal file and PostgreSQL | — |
| final_stage_seconds_per_job | `pairsearch final-run` wall time per seeded job with 1 and 2 workers | — |
| augment_epoch_ratio | seconds per training epoch of `base` (default params, 1 thread, 1000 pairs) with the strong recipe's random shifts ÷ without (`train_run` both ways, alternated; medians); the shifts alone per epoch beside it | ≤ 1.1 |
| gpu | where CUDA is present: a 10-epoch mid-size `sep_aux` trial, and 15 final-stage seeds sequential vs vectorised (`torch.func` + `vmap`); else "skipped" with the last recorded GPU figures (`bench/results/gpu.json`) | — |
| search_quality | `bench/search_quality.py`: test accuracy (%) of the configuration each search strategy (sampler + pruner + selection rule) chooses for the same budget of trained epochs, mean over searches and archs; in brackets its paired difference from the shipped strategy (points); `opt` = the chosen trial's validation − its test accuracy (points); epochs per search. Quick mode is a reduced smoke test (see "Search quality" below) | — |

Quick mode uses smaller configurations than full mode (each module's docstring in `bench/`
says which), so compare quick rows with quick rows.
"""


def write_latest(document: dict, *, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "latest.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def table_header() -> str:
    names = [name if not target else f"{name} ({target})" for name, target in COLUMNS]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(COLUMNS) + "\n"


def row_cells(document: dict) -> dict[str, str]:
    """Every column's text for one run (``—`` where the figure was not run)."""
    machine = document["machine"]
    cells = {
        "date (UTC)": document["date"][:16].replace("T", " "),
        "mode": document["mode"],
        "machine": (
            f"{machine['cores']} cores, torch {machine['torch']}, {machine['torch_threads_per_worker']} "
            f"thread/worker, load {machine['load_average'][0]:g}, {machine['commit']}"
        ),
        "note": document.get("note", ""),
    }
    for name, result in document["figures"].items():
        if "error" in result:
            cells.setdefault(_column_of(name), f"error: {result['error'][:120]}")
            continue
        for column, text in result.get("cells", {}).items():
            met = result.get("targets", {}).get(column, {}).get("met")
            cells[column] = text + ("" if met is None else (" ✓" if met else " ✗"))
    return cells


def _column_of(figure: str) -> str:
    return {"overhead": "overhead_ratio", "training_speed": "epoch_ratio", "scaling": "scaling_2_workers",
            "startup": "startup_ratio", "pruning": "prune_epoch_fraction", "storage": "storage_trials_per_s",
            "final_stage": "final_stage_seconds_per_job", "augmentation": "augment_epoch_ratio",
            "gpu": "gpu", "search_quality": "search_quality"}.get(figure, "note")


def format_row(document: dict) -> str:
    cells = row_cells(document)
    return "| " + " | ".join(cells.get(name, "—").replace("|", "/") for name, _ in COLUMNS) + " |\n"


def append_row(document: dict, *, path: Path) -> str:
    """Append the run's row to ``path``, creating the file (header and table head) if needed.

    When the columns changed since the last row, a new table head starts under the old table.
    """
    row = format_row(document)
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + "\n" + table_header(), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    heads = [line for line in text.splitlines() if line.startswith("| date (UTC) |")]
    with path.open("a", encoding="utf-8") as stream:
        if not text.endswith("\n"):
            stream.write("\n")
        if heads[-1:] != [table_header().splitlines()[0]]:
            stream.write("\n" + table_header())
        stream.write(row)
    return row
