"""GPU figures (only where CUDA is available; elsewhere recorded as "skipped: no CUDA").

* gpu_trial_seconds: one 10-epoch tuning run (:func:`pairsearch.training.loop.train_run` on the
  tuning split, data on the GPU) of a mid-size ``sep_aux`` (64 channels, 256 hidden, batch
  64, batch norm on); in full mode also the same run on one CPU thread of that machine.
* gpu_final_15_seeds: the final stage's 15 seeds of the same config trained one after the
  other with ``train_run`` (the path pairsearch uses; beside it, the same seeds with the bare
  loop of ``bench.overhead`` and ``torch.optim.Adam``), and all at once as one vectorised
  ensemble: the 15 models' weights stacked with ``torch.func.stack_module_state`` and called
  through ``functional_call`` under ``vmap`` (each seed keeps its own initial weights, its
  own training/test pairs, its own batch order, its own dropout masks; one Adam over the
  stacked weights is exactly 15 independent Adams). Batch norm is off for this figure:
  ``vmap`` over batch-norm running statistics needs extra care, and it is not the point here.

This module stays self-contained: pairsearch's training code is used as it is, and the
vectorised loop lives only here. It imports neither Optuna nor anything else beyond torch and
pairsearch's data/model/training modules, so it runs on a bare GPU machine.
"""

from __future__ import annotations

import copy
import json
import statistics
import time

from bench.common import RESULTS_DIR, Context, sep_aux_config

ARCH = "sep_aux"
PARAMS = sep_aux_config(channels=64, hidden=256)
EPOCHS = 10
SEEDS = 15
RECORD = RESULTS_DIR / "gpu.json"
NOTE = ("final-stage seeds trained with batchnorm=False (vmap over batch-norm statistics is awkward); "
        "the 10-epoch trial uses batchnorm=True")


def run(*, ctx: Context) -> dict:
    import torch

    if not torch.cuda.is_available():
        return skipped()
    return measure(ctx=ctx, device=torch.device("cuda"), params=PARAMS, epochs=EPOCHS, seeds=SEEDS,
                   cpu_reference=not ctx.quick)


def measure(*, ctx: Context, device, params: dict, epochs: int, seeds: int, cpu_reference: bool,
            trial_repeats: int = 3) -> dict:
    """Every GPU figure on ``device`` (a CPU device works too, for a dry run of this code)."""
    import torch

    from pairsearch.data.pairs import final_split, tuning_split
    from pairsearch.data.sources import load_pools
    from pairsearch.training.loop import set_threads, train_run
    from pairsearch.training.models import resolve_params

    set_threads(1)  # as a worker: the GPU does the work, one CPU thread feeds it
    pools = load_pools(source=ctx.source, data_dir=ctx.data_dir)
    trial_params = resolve_params(arch=ARCH, overrides=params)
    seed_params = {**trial_params, "batchnorm": False}
    tuning = tuning_split(pools=pools, seed=0)
    splits = [final_split(pools=pools, seed=seed) for seed in range(seeds)]

    def trial():
        return train_run(arch=ARCH, params=trial_params, split=tuning, epochs=epochs, seed=0, device=device)

    def sequential():
        return [train_run(arch=ARCH, params=seed_params, split=split, epochs=epochs, seed=seed, device=device)
                for seed, split in enumerate(splits)]

    def sequential_minimal():
        from bench.overhead import minimal_loop

        return [minimal_loop(arch=ARCH, params=seed_params, split=split, epochs=epochs, seed=seed, device=device)
                for seed, split in enumerate(splits)]

    def vectorised():
        return train_vectorised(arch=ARCH, params=seed_params, splits=splits, epochs=epochs,
                                seeds=list(range(seeds)), device=device)

    # Warm-up: CUDA context, cuDNN/cuBLAS handles, vmap's first trace.
    train_run(arch=ARCH, params=trial_params, split=tuning, epochs=1, seed=0, device=device)
    train_vectorised(arch=ARCH, params=seed_params, splits=splits[:2], epochs=1, seeds=[0, 1], device=device)
    minimal_loop_warm_up(params=seed_params, split=splits[0], device=device)
    trial_seconds = [timed(trial, device=device)[0] for _ in range(trial_repeats)]
    sequential_seconds, sequential_results = timed(sequential, device=device)
    minimal_seconds, _ = timed(sequential_minimal, device=device)
    vectorised_seconds, vectorised_accuracies = timed(vectorised, device=device)
    sequential_accuracies = [result.final_accuracy for result in sequential_results]

    raw = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "config": {"arch": ARCH, **params, "epochs": epochs},
        "trial_seconds": [round(s, 4) for s in trial_seconds],
        "final_seeds": seeds,
        "final_batchnorm": False,
        "sequential_seconds": round(sequential_seconds, 4),
        "vectorised_seconds": round(vectorised_seconds, 4),
        "sequential_minimal_loop_seconds": round(minimal_seconds, 4),
        "sequential_test_accuracy_mean": round(statistics.mean(sequential_accuracies), 4),
        "vectorised_test_accuracy_mean": round(statistics.mean(vectorised_accuracies), 4),
        "sequential_test_accuracies": sequential_accuracies,
        "vectorised_test_accuracies": [round(a, 4) for a in vectorised_accuracies],
    }
    if cpu_reference:
        cpu_seconds, _ = timed(lambda: train_run(arch=ARCH, params=trial_params, split=tuning,
                                                 epochs=epochs, seed=0, device="cpu"), device=torch.device("cpu"))
        raw["cpu_1_thread_trial_seconds"] = round(cpu_seconds, 4)
    values = {
        "gpu_trial_seconds": round(statistics.median(trial_seconds), 4),
        "gpu_final_sequential_seconds": round(sequential_seconds, 4),
        "gpu_final_vectorised_seconds": round(vectorised_seconds, 4),
        "gpu_final_vectorised_speedup": round(sequential_seconds / vectorised_seconds, 3),
    }
    return {"values": values, "targets": {}, "raw": raw, "notes": [NOTE],
            "cells": {"gpu": gpu_cell(values=values, raw=raw)}}


def minimal_loop_warm_up(*, params: dict, split, device) -> None:
    from bench.overhead import minimal_loop

    minimal_loop(arch=ARCH, params=params, split=split, epochs=1, seed=0, device=device)


def gpu_cell(*, values: dict, raw: dict) -> str:
    cpu = raw.get("cpu_1_thread_trial_seconds")
    cpu_text = f" (1 CPU thread {cpu:.1f} s)" if cpu else ""
    return (
        f"{raw['device']}: {raw['config']['epochs']}-ep trial {values['gpu_trial_seconds']:.2f} s{cpu_text}; "
        f"{raw['final_seeds']} seeds sequential {values['gpu_final_sequential_seconds']:.1f} s vs "
        f"vmap {values['gpu_final_vectorised_seconds']:.1f} s (×{values['gpu_final_vectorised_speedup']:.1f}; "
        f"bare loop + torch Adam {raw['sequential_minimal_loop_seconds']:.1f} s)"
    )


def skipped() -> dict:
    """No CUDA here: say so, and point at the last figures recorded on a GPU machine."""
    result = {"skipped": "no CUDA", "values": {}, "targets": {}, "raw": {}, "notes": []}
    last = ""
    if RECORD.exists():
        recorded = json.loads(RECORD.read_text())
        result["last_recorded"] = {"file": str(RECORD.relative_to(RESULTS_DIR.parent.parent)),
                                   "date": recorded.get("date"), "values": recorded.get("values")}
        if recorded.get("cell"):
            last = f" (last recorded {recorded.get('date', '')[:10]}: {recorded['cell']})"
    result["cells"] = {"gpu": f"skipped: no CUDA{last}"}
    return result


def timed(function, *, device):
    """(seconds, value) of ``function()``, the GPU's queued work included."""
    import torch

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    synchronize()
    started = time.perf_counter()
    value = function()
    synchronize()
    return time.perf_counter() - started, value


def train_vectorised(*, arch: str, params: dict, splits: list, epochs: int, seeds: list[int], device) -> list[float]:
    """Train one model per seed as one vmapped ensemble; the test accuracy of each after the last epoch.

    The same protocol as :func:`pairsearch.training.loop.train_run` (Adam, cosine decay to zero,
    shuffled batches, evaluation in eval mode every epoch), but every step runs all seeds.
    """
    import torch
    from torch.func import functional_call, stack_module_state, vmap

    from pairsearch.training.models import build_model

    if params["batchnorm"]:
        raise ValueError("the vectorised path trains without batch norm")
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(arch=arch, params=params).to(device))
    weights, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")  # the structure; the weights come from `weights`

    def loss_and_logits(w, b, images, targets, classes):
        output = functional_call(base, (w, b), (images,))
        return base.loss(output, targets, classes), output.compare_logits

    train_step = vmap(loss_and_logits, randomness="different")
    evaluate = vmap(loss_and_logits)

    def stacked(name: str, kind: str):
        return torch.stack([getattr(getattr(split, kind), name) for split in splits]).to(device)

    images, targets, classes = (stacked(name, "train") for name in ("images", "targets", "classes"))
    test_images, test_targets, test_classes = (stacked(name, "evaluation") for name in ("images", "targets", "classes"))
    n, batch_size = images.shape[1], params["batch_size"]
    optimizer = torch.optim.Adam(weights.values(), lr=params["lr"], weight_decay=params["weight_decay"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * -(-n // batch_size))
    shufflers = [torch.Generator().manual_seed(seed) for seed in seeds]
    rows = torch.arange(len(seeds), device=device)[:, None]
    accuracies = []
    for _ in range(epochs):
        base.train()
        order = torch.stack([torch.randperm(n, generator=shuffler) for shuffler in shufflers]).to(device)
        for start in range(0, n, batch_size):
            batch = order[:, start:start + batch_size]
            losses, _ = train_step(weights, buffers, images[rows, batch], targets[rows, batch], classes[rows, batch])
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()  # the seeds share no weights: each gets its own gradient
            optimizer.step()
            schedule.step()
        base.eval()
        with torch.inference_mode():
            _, logits = evaluate(weights, buffers, test_images, test_targets, test_classes)
            accuracies = ((logits > 0).float() == test_targets).float().mean(dim=1).tolist()
    return accuracies
