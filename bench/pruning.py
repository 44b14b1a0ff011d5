"""prune_epoch_fraction and prune_best_delta: what the shipped pruner saves, and what it costs.

For each of several TPE sampler seeds, two real ``pairsearch tune`` studies with the same
study file and seed: one with the pruner the shipped study files use (``[pruner]`` of
``studies/sep_aux.toml``, read through the spec loader) and one with ``--pruner none``. Each
study runs with one worker (one worker keeps its trial sequence deterministic); the studies
run side by side, as many at a time as there are cores.

* prune_epoch_fraction: the mean over seeds of epochs trained by the pruned study ÷ by the
  unpruned one (the sum of every trial's reported epochs).
* prune_best_delta: the mean over seeds of the best validation accuracy of the pruned study −
  of the unpruned one, in percentage points (target: no worse than −0.5).

One seed's best-accuracy difference swings by ±3 points from seed to seed, so one pair of
studies cannot judge a 0.5-point target: the figure is a mean over seeds, and every seed's
own figures are kept in ``latest.json`` (``raw.seeds``) and shown in the cell.

Full mode uses the shipped ``studies/sep_aux.toml`` as it is (plus a sampler seed) for 60
trials and 5 seeds; quick mode the same file and pruner with 6 epochs, narrower widths
(channels 4–12, hidden 16–48, batch sizes 64/128), 16 trials (TPE after 6) and 3 seeds.
"""

from __future__ import annotations

import statistics

from bench.common import (
    REPO,
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
SEEDS = {"quick": (0, 1, 2), "full": (0, 1, 2, 3, 4)}
FRACTION_TARGET = 0.6
DELTA_TARGET = -0.5  # percentage points
# Quick mode's narrowed search (also bench/search_quality.py's): a trial takes about a second.
QUICK_EPOCHS = 6
QUICK_SPACE = {
    "channels": {"type": "int", "low": 4, "high": 12, "log": True},
    "hidden": {"type": "int", "low": 16, "high": 48, "log": True},
    "batch_size": {"type": "categorical", "choices": [64, 128]},
}


def shipped_pruner() -> dict:
    """The ``[pruner]`` table of the shipped study file, with the loader's defaults filled in."""
    from pairsearch.studyspec import load_study_file

    return dict(load_study_file(path=REPO / "studies" / f"{ARCH}.toml").pruner)


def study_document(*, quick: bool, seed: int = 0, pruner: dict | None = None) -> tuple[dict, int]:
    """The study file both studies of one seed use, and the trial budget."""
    document = shipped_study(ARCH)
    document["sampler"] = {**document.get("sampler", {}), "seed": seed}
    document["pruner"] = dict(pruner or shipped_pruner())
    if not quick:
        return document, 60
    document["epochs"] = QUICK_EPOCHS
    document["params"].update(QUICK_SPACE)
    document["sampler"]["n_startup_trials"] = 6
    return document, 16


def run_studies(jobs: list[tuple[str, list[str]]], *, ctx: Context, parallel: int) -> None:
    """Run ``(name, tune args)`` jobs, ``parallel`` at a time."""
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            _name, args = pending.pop(0)
            running.append((start_cli(args, ctx=ctx), args))
        process, args = running.pop(0)
        finish_cli(process, args=args)


def summarise(*, url: str) -> dict:
    every = load_trials(url=url, study="pruning")
    complete = [t for t in every if t.state.name == "COMPLETE" and t.value is not None]
    return {
        "epochs": sum(len(t.intermediate_values) for t in every),
        "best_value": max(t.value for t in complete),
        "complete": len(complete),
        "pruned": sum(1 for t in every if t.state.name == "PRUNED"),
        "failed": sum(1 for t in every if t.state.name == "FAIL"),
        "span_seconds": round(span_seconds(every), 3),
    }


def measure(*, ctx: Context, seeds, pruner: dict | None = None, tag: str = "") -> dict:
    """Pruned vs unpruned studies for every seed; per-seed and mean figures."""
    jobs, trials, documents = [], None, {}
    for seed in seeds:
        document, trials = study_document(quick=ctx.quick, seed=seed, pruner=pruner)
        documents[seed] = document
        study_file = write_study_file(ctx.path(f"pruning{tag}-{seed}.toml"), document)
        for name, extra in (("unpruned", ["--pruner", "none"]), ("pruned", [])):
            url = ctx.sqlite_url(f"pruning{tag}-{seed}-{name}")
            jobs.append((f"{seed}-{name}", tune_args(ctx=ctx, study_file=study_file, study="pruning", url=url,
                                                     trials=trials, workers=1, extra=extra)))
    # Longest first: the unpruned studies, so the pruned ones fill the gaps at the end.
    jobs.sort(key=lambda job: not job[0].endswith("unpruned"))
    run_studies(jobs, ctx=ctx, parallel=max(1, ctx.cores))

    per_seed = []
    for seed in seeds:
        pruned = summarise(url=ctx.sqlite_url(f"pruning{tag}-{seed}-pruned"))
        unpruned = summarise(url=ctx.sqlite_url(f"pruning{tag}-{seed}-unpruned"))
        per_seed.append({
            "seed": seed,
            "fraction": round(pruned["epochs"] / unpruned["epochs"], 4),
            "delta": round(100 * (pruned["best_value"] - unpruned["best_value"]), 3),
            "pruned": pruned, "unpruned": unpruned,
        })
    return {
        "pruner": documents[seeds[0]]["pruner"], "study": documents[seeds[0]], "trials": trials,
        "seeds": per_seed,
        "fraction": statistics.mean(item["fraction"] for item in per_seed),
        "delta": statistics.mean(item["delta"] for item in per_seed),
    }


def describe(pruner: dict) -> str:
    if pruner["name"] == "hyperband":
        return f"hyperband rf {pruner.get('reduction_factor', 3)}"
    if pruner["name"] == "median":
        return f"median {pruner['n_startup_trials']}/{pruner['n_warmup_steps']}"
    return pruner["name"]


def run(*, ctx: Context) -> dict:
    seeds = SEEDS["quick" if ctx.quick else "full"]
    measured = measure(ctx=ctx, seeds=seeds)
    fraction, delta, trials = measured["fraction"], measured["delta"], measured["trials"]
    per_seed = measured["seeds"]
    epochs = measured["study"]["epochs"]
    raw = {
        "study": measured["study"], "pruner": measured["pruner"], "trials": trials, "workers_per_study": 1,
        "seeds": per_seed,
        "fraction_stdev": round(statistics.stdev(s["fraction"] for s in per_seed), 4) if len(per_seed) > 1 else 0,
        "delta_stdev": round(statistics.stdev(s["delta"] for s in per_seed), 3) if len(per_seed) > 1 else 0,
        "seconds_fraction": round(sum(s["pruned"]["span_seconds"] for s in per_seed)
                                  / sum(s["unpruned"]["span_seconds"] for s in per_seed), 4),
    }
    pruned_epochs = sum(s["pruned"]["epochs"] for s in per_seed)
    unpruned_epochs = sum(s["unpruned"]["epochs"] for s in per_seed)
    pruned_trials = sum(s["pruned"]["pruned"] for s in per_seed)
    fractions = "/".join(f"{s['fraction']:.2f}" for s in per_seed)
    deltas = "/".join(f"{s['delta']:+.1f}" for s in per_seed)
    seed_list = ",".join(str(s["seed"]) for s in per_seed)
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
                f"{fraction:.3f} = mean of {fractions} over seeds {seed_list} "
                f"({pruned_epochs} ÷ {unpruned_epochs} epochs; {pruned_trials}/{trials * len(per_seed)} pruned; "
                f"{describe(measured['pruner'])}; {trials} trials × {epochs} ep)"
            ),
            "prune_best_delta": (
                f"{delta:+.2f} pts = mean of {deltas} "
                f"(pruned − unpruned best, per seed)"
            ),
        },
    }
