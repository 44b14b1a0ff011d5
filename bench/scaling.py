"""scaling_2_workers: finished trials per minute with ``--workers 2`` ÷ with ``--workers 1``.

Both runs are real ``pairsearch tune`` commands on the same small fixed config (one torch
thread per worker, SQLite storage). Trials per minute come from the storage's timestamps,
first trial start → last trial end, so process start-up does not dominate. On a machine with
more than 2 cores the figure still compares 1 and 2 workers.
"""

from __future__ import annotations

from bench.common import (
    Context,
    check,
    finished,
    fixed_study,
    load_trials,
    run_cli,
    sep_aux_config,
    span_seconds,
    trial_seconds,
    tune_args,
    write_study_file,
)

ARCH = "sep_aux"
PARAMS = sep_aux_config(channels=16, hidden=64)
SIZES = {True: {"epochs": 2, "trials": {1: 8, 2: 16}}, False: {"epochs": 3, "trials": {1: 20, 2: 40}}}
TARGET = 1.8


def run(*, ctx: Context) -> dict:
    size = SIZES[ctx.quick]
    study_file = write_study_file(
        ctx.path("scaling.toml"), fixed_study(arch=ARCH, params=PARAMS, epochs=size["epochs"])
    )
    raw = {"config": {"arch": ARCH, **PARAMS, "epochs": size["epochs"]}, "cores": ctx.cores}
    for workers, trials in size["trials"].items():
        url = ctx.sqlite_url(f"scaling-{workers}")
        _, wall = run_cli(tune_args(ctx=ctx, study_file=study_file, study="scaling", url=url,
                                    trials=trials, workers=workers), ctx=ctx)
        done = finished(load_trials(url=url, study="scaling"))
        span = span_seconds(done)
        raw[f"workers_{workers}"] = {
            "trials": len(done),
            "span_seconds": round(span, 3),
            "trials_per_minute": round(60 * len(done) / span, 3),
            "median_trial_seconds": round(sorted(trial_seconds(t) for t in done)[len(done) // 2], 4),
            # How much of the span the workers spent inside trials (1.0 = never idle).
            "busy_fraction": round(sum(trial_seconds(t) for t in done) / (workers * span), 3),
            "process_wall_seconds": round(wall, 3),
        }
    one, two = raw["workers_1"]["trials_per_minute"], raw["workers_2"]["trials_per_minute"]
    ratio = two / one
    notes = [] if ctx.cores >= 2 else [f"only {ctx.cores} core(s): 2 workers cannot scale here"]
    return {
        "values": {"scaling_2_workers": round(ratio, 4)},
        "targets": {"scaling_2_workers": {"target": f">= {TARGET}", "met": check(ratio, at_least=TARGET)}},
        "raw": raw,
        "notes": notes,
        "cells": {"scaling_2_workers": (
            f"{ratio:.3f} = {two:.1f} ÷ {one:.1f} trials/min "
            f"(trial {raw['workers_1']['median_trial_seconds']:.2f} s → {raw['workers_2']['median_trial_seconds']:.2f} s)"
        )},
    }
