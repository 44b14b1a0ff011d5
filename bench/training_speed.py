"""epoch_ratio: one epoch of :func:`pairsearch.training.loop.train_run` ÷ the textbook loop, same network.

The textbook loop is written here, as a user would write it from the PyTorch tutorials around
``pairsearch.training.models.build_model``: a ``DataLoader`` over a ``TensorDataset`` (``shuffle=True``),
``torch.optim.Adam`` + ``CosineAnnealingLR`` stepped every batch down to zero at the last one
(train_run's schedule, so the two accuracies compare like with like), ``loss.item()`` summed
for the epoch's training loss, ``model.train()`` / ``model.eval()``, and evaluation every
epoch on the same evaluation pairs under ``torch.no_grad()`` in batches of 1000 (the test
batch size of PyTorch's MNIST example).

Two configs of arch ``base`` (other params: the arch defaults): *small* — 32 channels, hidden
128, batch 64; *large* — 128 channels, hidden 300, batch 16. Each loop trains in a fresh
1-thread process of its own (as a worker; ``train_run`` sets process-wide allocator options,
which the textbook loop must not inherit), on the final split of the round's seed (1000
training pairs, the test pairs scored every epoch). Epoch 1 is the warm-up (oneDNN
primitives, allocator, torch.optim's lazy import of ``torch._dynamo``); seconds per epoch is
the median of the later epochs, stamped at each epoch's end. Rounds alternate which loop runs
first. The figure is the median over rounds of pairsearch's seconds ÷ the median of the
textbook's; wall time, with process CPU time kept beside it (a shared box's load shows in the
first, much less in the second). Test accuracy after the last epoch is recorded for both.

Quick mode: 3 epochs (small) and 2 (large), 3 rounds. Full mode: 10 epochs, 3 rounds.

``python -m bench.training_speed --levers [--config small|large] [--rounds N]`` measures each
lever of ``train_run`` by switching it off alone (and all together), against the same textbook
loop, each variant in its own process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

from bench.common import REPO, Context, check, median, rounded, run_json_child

ARCH = "base"
CONFIGS = {
    "small": {"channels": 32, "hidden": 128, "batch_size": 64},
    "large": {"channels": 128, "hidden": 300, "batch_size": 16},
}
SIZES = {True: {"epochs": {"small": 3, "large": 2}, "rounds": 3},
         False: {"epochs": {"small": 10, "large": 10}, "rounds": 3}}
TARGET = 0.7
TEXTBOOK_TEST_BATCH = 1000


def run(*, ctx: Context) -> dict:
    size = SIZES[ctx.quick]
    measured = {config: measure(ctx=ctx, config=config, epochs=size["epochs"][config], rounds=size["rounds"])
                for config in CONFIGS}
    ratios = {config: m["ratio"] for config, m in measured.items()}
    met = all(check(ratio, at_most=TARGET) for ratio in ratios.values())
    notes = [f"{config}: CPU-time ratio {m['cpu_ratio']:.3f}, per-round ratios {m['round_ratios']}"
             for config, m in measured.items()]
    return {
        "values": {f"epoch_ratio_{config}": round(ratio, 4) for config, ratio in ratios.items()},
        "targets": {"epoch_ratio": {"target": f"<= {TARGET} on both configs", "met": met}},
        "raw": measured,
        "notes": notes,
        "cells": {"epoch_ratio": "; ".join(cell(config, m) for config, m in measured.items())},
    }


def cell(config: str, measured: dict) -> str:
    ps, tb = measured["pairsearch"], measured["textbook"]
    return (f"{config} {measured['ratio']:.3f} = {ps['epoch_seconds']:.3f} s ÷ {tb['epoch_seconds']:.3f} s "
            f"(test acc {ps['accuracy_mean']:.3f} vs {tb['accuracy_mean']:.3f} after {measured['epochs']} ep)")


def measure(*, ctx: Context, config: str, epochs: int, rounds: int,
            loops: tuple[str, ...] = ("textbook", "pairsearch")) -> dict:
    """Alternate the loops' processes for ``rounds`` rounds; medians, ratios and every raw timing."""
    runs = {loop: [] for loop in loops}
    for seed in range(rounds):
        order = loops if seed % 2 == 0 else loops[::-1]
        for loop in order:
            runs[loop].append(run_child({"loop": loop, "params": CONFIGS[config], "epochs": epochs,
                                         "seed": seed, "source": ctx.source, "data_dir": str(ctx.data_dir)}))
    summary = {"config": {"arch": ARCH, **CONFIGS[config]}, "epochs": epochs, "rounds": rounds}
    for loop, results in runs.items():
        summary[loop] = {
            "epoch_seconds": round(median(r["epoch_median"] for r in results), 4),
            "epoch_cpu_seconds": round(median(r["epoch_cpu_median"] for r in results), 4),
            "accuracy_mean": round(sum(r["accuracy"] for r in results) / len(results), 4),
            "accuracies": [r["accuracy"] for r in results],
            "runs": results,
        }
    reference = summary[loops[0]]
    for loop in loops[1:]:
        summary[loop]["ratio"] = round(summary[loop]["epoch_seconds"] / reference["epoch_seconds"], 4)
        summary[loop]["cpu_ratio"] = round(summary[loop]["epoch_cpu_seconds"] / reference["epoch_cpu_seconds"], 4)
    if "pairsearch" in summary:
        summary["ratio"], summary["cpu_ratio"] = summary["pairsearch"]["ratio"], summary["pairsearch"]["cpu_ratio"]
        summary["round_ratios"] = [
            round(p["epoch_median"] / t["epoch_median"], 3)
            for p, t in zip(runs["pairsearch"], runs[loops[0]])
        ]
    return summary


def run_child(request: dict) -> dict:
    return run_json_child(module="bench.training_speed", flag="--child", request=request,
                          what=f"{request['loop']} loop")


# --- the child process -----------------------------------------------------------------------


def child_main(request: dict) -> dict:
    """Train one loop from scratch for ``epochs`` epochs; seconds of every epoch, final test accuracy."""
    from pairsearch.data.pairs import final_split
    from pairsearch.data.sources import load_pools
    from pairsearch.training.loop import set_threads, train_run
    from pairsearch.training.models import resolve_params

    set_threads(1)
    pools = load_pools(source=request["source"], data_dir=request["data_dir"])
    split = final_split(pools=pools, seed=request["seed"])
    params = resolve_params(arch=ARCH, overrides=request["params"])
    loop, epochs, seed = request["loop"], request["epochs"], request["seed"]
    switch_off(LEVERS.get(loop, ()))
    stamps = []  # (wall, CPU) at each epoch's end: epoch 1, the warm-up, is not timed

    def stamp(*_record) -> None:
        stamps.append((time.perf_counter(), time.process_time()))

    if loop == "textbook":
        accuracy = textbook_loop(params=params, split=split, epochs=epochs, seed=seed, on_epoch=stamp)
    else:
        accuracy = train_run(arch=ARCH, params=params, split=split, epochs=epochs, seed=seed,
                             on_epoch=stamp).final_accuracy
    walls = [b[0] - a[0] for a, b in itertools.pairwise(stamps)]
    cpus = [b[1] - a[1] for a, b in itertools.pairwise(stamps)]
    return {"loop": loop, "seed": seed, "epoch_seconds": rounded(walls), "epoch_cpu_seconds": rounded(cpus),
            "epoch_median": round(median(walls), 4), "epoch_cpu_median": round(median(cpus), 4),
            "accuracy": accuracy}


def textbook_loop(*, params: dict, split, epochs: int, seed: int, on_epoch) -> float:
    """The loop a user writes from the PyTorch tutorials around the same network; test accuracy."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from pairsearch.training.models import build_model

    torch.manual_seed(seed)
    model = build_model(arch=ARCH, params=params)
    train_loader = DataLoader(TensorDataset(split.train.images, split.train.targets, split.train.classes),
                              batch_size=params["batch_size"], shuffle=True)
    test_loader = DataLoader(TensorDataset(split.evaluation.images, split.evaluation.targets),
                             batch_size=TEXTBOOK_TEST_BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(train_loader))
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        running_loss = 0.0
        for images, targets, classes in train_loader:
            optimizer.zero_grad()
            loss = model.loss(model(images), targets, classes)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running_loss += loss.item()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, targets in test_loader:
                correct += ((model(images).compare_logits > 0).float() == targets).sum().item()
        accuracy = correct / len(split.evaluation)
        on_epoch()
    return accuracy


# --- levers: train_run with one of them switched off ------------------------------------------

LEVERS = {
    "pairsearch": (),
    "no_channels_last": ("channels_last",),
    "no_fused_adam": ("fused_adam",),
    "no_eval_chunks": ("eval_chunks",),
    "no_kept_memory": ("kept_memory",),
    "no_levers": ("channels_last", "fused_adam", "eval_chunks", "kept_memory"),
}


def switch_off(levers: tuple[str, ...]) -> None:
    """Undo levers of :mod:`pairsearch.training.loop` in this (child) process, as it was before them."""
    import torch

    from pairsearch.training import loop

    if "channels_last" in levers:
        loop.MEMORY_FORMAT = torch.contiguous_format
    if "fused_adam" in levers:
        loop.Adam = per_tensor_adam()
    if "eval_chunks" in levers:
        loop.EVAL_BATCH_SIZE = 4096  # the whole evaluation set at once
    if "kept_memory" in levers:
        loop.keep_freed_memory = lambda: None


def per_tensor_adam() -> type:
    import math

    import torch

    from pairsearch.training import loop

    class PerTensorAdam(loop.Adam):
        """The update before the fused kernel: six elementwise passes per parameter tensor."""

        @torch.no_grad()
        def step(self) -> None:
            lr = self.current_lr()
            self.steps += 1
            correction1, correction2 = 1 - self.beta1**self.steps, 1 - self.beta2**self.steps
            for parameter, m, v in zip(self.parameters, self.first_moments, self.second_moments):
                if parameter.grad is None:
                    continue
                grad = parameter.grad
                if self.weight_decay:
                    grad = grad.add(parameter, alpha=self.weight_decay)
                m.lerp_(grad, 1 - self.beta1)
                v.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
                denominator = (v.sqrt() / math.sqrt(correction2)).add_(self.eps)
                parameter.addcdiv_(m, denominator, value=-lr / correction1)

    return PerTensorAdam


def levers_main(*, config: str, rounds: int, epochs: int, as_json: bool) -> None:
    """Print seconds per epoch of the textbook loop and of train_run with each lever switched off."""
    from bench.common import DEFAULT_DATA_DIR, prepare_data

    source = prepare_data(data_dir=DEFAULT_DATA_DIR)
    ctx = Context(quick=True, work=REPO, data_dir=DEFAULT_DATA_DIR.resolve(), source=source)
    measured = measure(ctx=ctx, config=config, epochs=epochs, rounds=rounds, loops=("textbook", *LEVERS))
    for loop in ("textbook", *LEVERS):
        m = measured[loop]
        ratio = "" if loop == "textbook" else f"  ratio {m['ratio']:.3f} (CPU {m['cpu_ratio']:.3f})"
        print(f"{config:5} {loop:17} {m['epoch_seconds']:.3f} s/epoch (CPU {m['epoch_cpu_seconds']:.3f})"
              f"{ratio}  acc {m['accuracy_mean']:.3f}  per round {[r['epoch_median'] for r in m['runs']]}")
    if as_json:
        print(json.dumps(measured))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.training_speed",
                                     description="train_run with each lever switched off, vs the textbook loop")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one loop of the figure, as JSON
    parser.add_argument("--levers", action="store_true", help="measure the levers (each variant in its own process)")
    parser.add_argument("--config", choices=list(CONFIGS), default="large")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="per process; the first is the warm-up")
    parser.add_argument("--json", action="store_true", help="also print every raw timing as JSON")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_main(json.loads(args.child))))
    elif args.levers:
        levers_main(config=args.config, rounds=args.rounds, epochs=args.epochs, as_json=args.json)
    else:
        parser.error("nothing to do: pass --levers")
