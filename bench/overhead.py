"""overhead_ratio: one trial inside a real ``pairsearch tune`` worker ÷ the same config trained bare.

Numerator: ``pairsearch tune --workers 1`` on a study file that always trains one config (one
categorical choice per param, median pruner armed from the second trial, so reporting and
pruning checks run every epoch). A trial's cost is its *cycle*: from the previous trial's end
to its own end, read from the storage's timestamps, so it includes the budget lock, the stale
sweep, the trial count, trial creation, the suggest calls, training, ``report`` +
``should_prune`` every epoch, the user attrs and ``tell``. The first trial is a warm-up.

Denominator: in a fresh 1-thread process (like a worker), :func:`pairsearch.training.loop.train_run`
of the same resolved params on the same split (no Optuna at all); and, to be honest about
"bare", a minimal hand-written loop of the same model on the same tensors (``torch.optim.Adam``,
no learning-rate schedule, no history, one evaluation per epoch). Both are warmed up first.

Also recorded: how many SQL statements and commits a trial costs per epoch and per trial
(counted in-process with SQLAlchemy events while :func:`pairsearch.tuning.run_trials` runs).
"""

from __future__ import annotations

import argparse
import json
import time

from bench.common import (
    BenchError,
    Context,
    check,
    finished,
    fixed_study,
    load_trials,
    median,
    rounded,
    run_cli,
    run_json_child,
    sep_aux_config,
    trial_seconds,
    tune_args,
    write_study_file,
)

ARCH = "sep_aux"
# A small sep_aux: 32/64 channels, 128 hidden, batch 64.
PARAMS = sep_aux_config(channels=32, hidden=128)
PRUNER = {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}
SIZES = {True: {"epochs": 4, "trials": 4, "rounds": 3}, False: {"epochs": 10, "trials": 10, "rounds": 4}}
TARGET = 1.05


def run(*, ctx: Context) -> dict:
    size = SIZES[ctx.quick]
    document = fixed_study(arch=ARCH, params=PARAMS, epochs=size["epochs"], pruner=PRUNER)
    study_file = write_study_file(ctx.path("overhead.toml"), document)
    url = ctx.sqlite_url("overhead")

    bare = [] if ctx.quick else [run_bare(ctx=ctx, document=document, rounds=size["rounds"] // 2)]
    args = tune_args(ctx=ctx, study_file=study_file, study="overhead", url=url,
                     trials=size["trials"] + 1, workers=1)
    _, tune_wall = run_cli(args, ctx=ctx)
    bare.append(run_bare(ctx=ctx, document=document, rounds=size["rounds"] - len(bare) * (size["rounds"] // 2)))

    trials = finished(load_trials(url=url, study="overhead"))
    if len(trials) != size["trials"] + 1:
        raise BenchError(f"tune finished {len(trials)} trials, expected {size['trials'] + 1}")
    timed = trials[1:]  # the first trial warms up the worker (allocator, kernels)
    cycles = [t.datetime_complete.timestamp() - p.datetime_complete.timestamp() for p, t in zip(trials, timed)]
    walls = [trial_seconds(t) for t in timed]
    in_epochs = [t.user_attrs["seconds_per_epoch"] * t.user_attrs["epochs_run"] for t in timed]
    train_run_s = [s for b in bare for s in b["train_run_seconds"]]
    minimal_s = [s for b in bare for s in b["minimal_seconds"]]

    tune_trial, bare_trial, minimal_trial = median(cycles), median(train_run_s), median(minimal_s)
    ratio = tune_trial / bare_trial
    pruned = sum(1 for t in trials if t.state.name == "PRUNED")
    notes = [] if not pruned else [f"{pruned} trial(s) were pruned: the fixed config did not repeat exactly"]
    same_value = all(t.value == bare[-1]["train_run_accuracy"] for t in timed if t.value is not None)
    if not same_value:
        notes.append("tune and train_run gave different accuracies for the same config")
    round_trips = count_round_trips(ctx=ctx)
    return {
        "values": {"overhead_ratio": round(ratio, 4),
                   "overhead_ratio_vs_minimal_loop": round(tune_trial / minimal_trial, 4)},
        "targets": {"overhead_ratio": {"target": f"<= {TARGET}", "met": check(ratio, at_most=TARGET)}},
        "raw": {
            "config": {"arch": ARCH, **PARAMS, "epochs": size["epochs"]},
            "tune_trial_cycle_seconds": rounded(cycles),
            "tune_trial_wall_seconds": rounded(walls),
            "tune_epoch_seconds_sum": rounded(in_epochs),
            "tune_median_cycle": round(tune_trial, 4),
            "tune_median_outside_epochs": round(median(w - e for w, e in zip(walls, in_epochs)), 4),
            "tune_median_between_trials": round(median(c - w for c, w in zip(cycles, walls)), 4),
            "tune_process_wall_seconds": round(tune_wall, 3),
            "train_run_seconds": rounded(train_run_s),
            "train_run_median": round(bare_trial, 4),
            "minimal_loop_seconds": rounded(minimal_s),
            "minimal_loop_median": round(minimal_trial, 4),
            "same_accuracy_as_train_run": same_value,
            "storage_round_trips": round_trips,
        },
        "notes": notes,
        "cells": {
            "overhead_ratio": (
                f"{ratio:.3f} = {tune_trial:.3f} s ÷ {bare_trial:.3f} s "
                f"(minimal loop {minimal_trial:.3f} s; {size['epochs']} ep; "
                f"SQL/epoch {round_trips['statements_per_epoch']:g}, commits/epoch {round_trips['commits_per_epoch']:g})"
            ),
        },
    }


def run_bare(*, ctx: Context, document: dict, rounds: int) -> dict:
    """Train the same config in a fresh 1-thread process: ``train_run`` and a minimal loop."""
    from pairsearch.training.models import resolve_params

    params = resolve_params(
        arch=document["arch"], overrides={k: v["choices"][0] for k, v in document["params"].items()}
    )
    request = {"arch": document["arch"], "params": params, "epochs": document["epochs"],
               "seed": document["seed"], "rounds": rounds, "data_dir": str(ctx.data_dir), "source": ctx.source}
    return run_json_child(module="bench.overhead", flag="--bare", request=request, what="bare loop")


def bare_main(request: dict) -> dict:
    """The child process of :func:`run_bare`: warm up, then alternate train_run and the minimal loop."""
    from pairsearch.data.pairs import tuning_split
    from pairsearch.data.sources import load_pools
    from pairsearch.training.loop import set_threads, train_run

    set_threads(1)
    pools = load_pools(source=request["source"], data_dir=request["data_dir"])
    split = tuning_split(pools=pools, seed=request["seed"])
    arch, params, epochs, seed = request["arch"], request["params"], request["epochs"], request["seed"]
    # Warm-up, both paths: kernels, allocator, and torch.optim's lazy import of torch._dynamo.
    train_run(arch=arch, params=params, split=split, epochs=1, seed=seed)
    minimal_loop(arch=arch, params=params, split=split, epochs=1, seed=seed)
    train_run_seconds, minimal_seconds, accuracy = [], [], None
    for _ in range(request["rounds"]):
        started = time.perf_counter()
        accuracy = train_run(arch=arch, params=params, split=split, epochs=epochs, seed=seed).final_accuracy
        train_run_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        minimal_loop(arch=arch, params=params, split=split, epochs=epochs, seed=seed)
        minimal_seconds.append(time.perf_counter() - started)
    return {"train_run_seconds": train_run_seconds, "minimal_seconds": minimal_seconds,
            "train_run_accuracy": accuracy}


def minimal_loop(*, arch: str, params: dict, split, epochs: int, seed: int, device="cpu") -> float:
    """The barest honest loop: same model and tensors, Adam, shuffled batches, eval per epoch."""
    import torch

    from pairsearch.training.models import build_model

    torch.manual_seed(seed)
    model = build_model(arch=arch, params=params).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    train, evaluation = split.train.to(device), split.evaluation.to(device)
    shuffler = torch.Generator().manual_seed(seed)
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(train), generator=shuffler).to(device).split(params["batch_size"]):
            output = model(train.images[batch])
            loss = model.loss(output, train.targets[batch], train.classes[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            predicted = (model(evaluation.images).compare_logits > 0).float()
            accuracy = (predicted == evaluation.targets).float().mean().item()
    return accuracy


# --- storage round-trips ---------------------------------------------------------------------

TINY = {"channels": 4, "hidden": 8, "batch_size": 250, "lr": 2e-3, "dropout": 0.0,
        "batchnorm": False, "weight_decay": 0.0, "aux_weight": 1.0}


def count_round_trips(*, ctx: Context) -> dict:
    """SQL statements and commits of the real worker loop, per epoch and per trial (SQLite).

    Runs :func:`pairsearch.tuning.run_trials` in this process on a tiny model with 1- and
    3-epoch studies, each to a budget of 1 and then 3 trials; differences cancel the set-up.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts = {"statements": 0, "commits": 0}

    def on_statement(*_args, **_kwargs) -> None:
        counts["statements"] += 1

    def on_commit(*_args, **_kwargs) -> None:
        counts["commits"] += 1

    event.listen(Engine, "before_cursor_execute", on_statement)
    event.listen(Engine, "commit", on_commit)
    try:
        per_trial = {}
        for epochs in (1, 3):
            per_trial[epochs] = _trial_counts(ctx=ctx, epochs=epochs, counts=counts)
    finally:
        event.remove(Engine, "before_cursor_execute", on_statement)
        event.remove(Engine, "commit", on_commit)
    result = {}
    for kind in ("statements", "commits"):
        per_epoch = (per_trial[3][kind] - per_trial[1][kind]) / 2
        result[f"{kind}_per_epoch"] = round(per_epoch, 2)
        result[f"{kind}_per_trial_besides_epochs"] = round(per_trial[1][kind] - per_epoch, 2)
    return result


def _trial_counts(*, ctx: Context, epochs: int, counts: dict) -> dict:
    from pairsearch import tuning, tuning_setup
    from pairsearch.data.pairs import DataChoice
    from pairsearch.data.sources import load_pools
    from pairsearch.storage.handle import StorageHandle
    from pairsearch.studyspec import load_study_file
    from pairsearch.training.recipes import course_recipe

    path = write_study_file(ctx.path(f"count-{epochs}.toml"), fixed_study(
        arch=ARCH, params=TINY, epochs=epochs, pruner=PRUNER))
    spec = load_study_file(path=path)
    pools = load_pools(source=ctx.source, data_dir=ctx.data_dir)
    url = ctx.sqlite_url(f"count-{epochs}")
    seen = []
    for budget in (1, 3):
        job = tuning.TuneRequest(spec=spec, study_name="count", storage=StorageHandle.resolve(url=url), trials=budget,
                             data=DataChoice(source=ctx.source, data_dir=ctx.data_dir),
                             recipe=course_recipe(epochs=spec.epochs))
        tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
        before = dict(counts)
        tuning.run_trials(request=job)
        seen.append({kind: counts[kind] - before[kind] for kind in counts})
    # Budget 1 ran one trial, budget 3 two more, each with the same set-up and final "done":
    # the difference is one trial's worth.
    return {kind: seen[1][kind] - seen[0][kind] for kind in counts}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="internal: the bare side of the overhead figure")
    parser.add_argument("--bare", required=True, help="JSON request")
    print(json.dumps(bare_main(json.loads(parser.parse_args().bare))))
