"""prune_epoch_fraction and prune_best_delta: what the median pruner saves, and what it costs.

Two real ``pairsearch tune`` studies with the same study file and TPE seed, one with the
file's median pruner and one with ``--pruner none``, run side by side with one worker each
(one worker keeps each study's trial sequence deterministic; on 2 cores they do not compete).

* prune_epoch_fraction: epochs trained by the pruned study ÷ by the unpruned one (the sum
  of every trial's reported epochs).
* prune_best_delta: best validation accuracy of the pruned study − of the unpruned one, in
  percentage points (target: no worse than −0.5).

Full mode uses the shipped ``studies/sep_aux.toml`` as it is (plus a sampler seed) for 60
trials; quick mode the same file with 4 epochs, narrower widths (channels 4–16, hidden
16–64, so a trial takes about a second), 30 trials and the pruner's warm-up scaled down.
"""

from __future__ import annotations

from bench.common import (
    Context,
    check,
    finish_cli,
    load_trials,
    shipped_study,
    span_seconds,
    start_cli,
    tune_args,
    write_study_file,
)

ARCH = "sep_aux"
SAMPLER_SEED = 0
FRACTION_TARGET = 0.6
DELTA_TARGET = -0.5  # percentage points


def study_document(*, quick: bool) -> tuple[dict, int]:
    """The study file both studies use, and the trial budget."""
    document = shipped_study(ARCH)
    document["sampler"] = {**document.get("sampler", {}), "seed": SAMPLER_SEED}
    if not quick:
        return document, 60
    document["epochs"] = 4
    document["params"]["channels"] = {"type": "int", "low": 4, "high": 16, "log": True}
    document["params"]["hidden"] = {"type": "int", "low": 16, "high": 64, "log": True}
    document["sampler"]["n_startup_trials"] = 10
    document["pruner"] = {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 1}
    return document, 30


def run(*, ctx: Context) -> dict:
    document, trials = study_document(quick=ctx.quick)
    study_file = write_study_file(ctx.path("pruning.toml"), document)
    runs = {"pruned": [], "unpruned": ["--pruner", "none"]}
    started = {}
    for name, extra in runs.items():
        args = tune_args(ctx=ctx, study_file=study_file, study="pruning", url=ctx.sqlite_url(f"pruning-{name}"),
                         trials=trials, workers=1, extra=extra)
        started[name] = (start_cli(args, ctx=ctx), args)
    for process, args in started.values():
        finish_cli(process, args=args)

    raw = {"study": document, "trials": trials, "workers_per_study": 1}
    for name in runs:
        every = load_trials(url=ctx.sqlite_url(f"pruning-{name}"), study="pruning")
        complete = [t for t in every if t.state.name == "COMPLETE" and t.value is not None]
        raw[name] = {
            "epochs": sum(len(t.intermediate_values) for t in every),
            "best_value": max(t.value for t in complete),
            "complete": len(complete),
            "pruned": sum(1 for t in every if t.state.name == "PRUNED"),
            "failed": sum(1 for t in every if t.state.name == "FAIL"),
            "span_seconds": round(span_seconds(every), 3),
        }
    pruned, unpruned = raw["pruned"], raw["unpruned"]
    fraction = pruned["epochs"] / unpruned["epochs"]
    delta = 100 * (pruned["best_value"] - unpruned["best_value"])
    raw["seconds_fraction"] = round(pruned["span_seconds"] / unpruned["span_seconds"], 4)
    return {
        "values": {"prune_epoch_fraction": round(fraction, 4), "prune_best_delta": round(delta, 3)},
        "targets": {
            "prune_epoch_fraction": {"target": f"<= {FRACTION_TARGET}",
                                     "met": check(fraction, at_most=FRACTION_TARGET)},
            "prune_best_delta": {"target": f">= {DELTA_TARGET} points",
                                 "met": check(delta, at_least=DELTA_TARGET)},
        },
        "raw": raw,
        "notes": [],
        "cells": {
            "prune_epoch_fraction": (
                f"{fraction:.3f} = {pruned['epochs']} ÷ {unpruned['epochs']} epochs "
                f"({pruned['pruned']}/{trials} pruned; {trials} trials × {document['epochs']} ep)"
            ),
            "prune_best_delta": (
                f"{delta:+.2f} pts = {pruned['best_value']:.4f} − {unpruned['best_value']:.4f}"
            ),
        },
    }
