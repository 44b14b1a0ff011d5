"""augment_epoch_ratio: seconds per training epoch with the strong recipe's shifts ÷ without.

Arch ``base`` with its default params, one torch thread, the final protocol's split (1000
training pairs): :func:`pairsearch.training.loop.train_run` with ``augment`` from
:func:`pairsearch.training.augment.make_augment` (``max_shift`` of ``recipes/strong.toml``) and without,
alternated round by round after a warm-up of each; per-epoch seconds are the runs' own
``EpochRecord.seconds`` (training and the evaluation of the test pairs), medians over every
timed epoch. Beside it: the shifts alone, every minibatch of one epoch passed through the
augmentation without training. Quick: 2 epochs × 3 rounds; full: 5 epochs × 5 rounds.
"""

from __future__ import annotations

import time

from bench.common import Context, check, median, rounded

ARCH = "base"
SIZES = {True: {"epochs": 2, "rounds": 3}, False: {"epochs": 5, "rounds": 5}}
TARGET = 1.10


def run(*, ctx: Context) -> dict:
    from pairsearch.data.pairs import final_split, load_pools
    from pairsearch.training.loop import set_threads
    from pairsearch.training.models import resolve_params
    from pairsearch.training.recipes import load_recipe

    size = SIZES[ctx.quick]
    set_threads(1)
    params = resolve_params(arch=ARCH, overrides={})
    max_shift = load_recipe(name_or_path="strong").max_shift
    split = final_split(pools=load_pools(source=ctx.source, data_dir=ctx.data_dir), seed=0)
    for shift in (0, max_shift):  # warm-up: kernels, allocator
        epoch_seconds(params=params, split=split, epochs=1, max_shift=shift)
    plain, shifted = [], []
    for _ in range(size["rounds"]):
        plain += epoch_seconds(params=params, split=split, epochs=size["epochs"], max_shift=0)
        shifted += epoch_seconds(params=params, split=split, epochs=size["epochs"], max_shift=max_shift)
    shifts_alone = median(shift_seconds(split=split, batch_size=params["batch_size"], max_shift=max_shift)
                          for _ in range(5))
    ratio = median(shifted) / median(plain)
    return {
        "values": {"augment_epoch_ratio": round(ratio, 4), "plain_epoch_seconds": round(median(plain), 4),
                   "augmented_epoch_seconds": round(median(shifted), 4),
                   "shifts_alone_epoch_seconds": round(shifts_alone, 5)},
        "targets": {"augment_epoch_ratio": {"target": f"<= {TARGET}", "met": check(ratio, at_most=TARGET)}},
        "raw": {"config": {"arch": ARCH, **params, "max_shift": max_shift, **size},
                "plain_epoch_seconds": rounded(plain), "augmented_epoch_seconds": rounded(shifted)},
        "cells": {"augment_epoch_ratio": (
            f"{ratio:.3f} = {median(shifted):.3f} s ÷ {median(plain):.3f} s per epoch (±{max_shift} px shifts; "
            f"shifts alone {1000 * shifts_alone:.1f} ms/epoch = {100 * shifts_alone / median(plain):.1f} %; "
            f"{ARCH} defaults, {size['rounds']}×{size['epochs']} ep)"
        )},
    }


def epoch_seconds(*, params: dict, split, epochs: int, max_shift: int) -> list[float]:
    """The per-epoch seconds of one seed-0 run, with shifts of up to ``max_shift`` px (0: none)."""
    from pairsearch.training.augment import make_augment
    from pairsearch.training.loop import train_run

    result = train_run(arch=ARCH, params=params, split=split, epochs=epochs, seed=0,
                       augment=make_augment(max_shift=max_shift, seed=0))
    return [record.seconds for record in result.history]


def shift_seconds(*, split, batch_size: int, max_shift: int) -> float:
    """One epoch's minibatches through the augmentation alone."""
    from pairsearch.training.augment import make_augment

    augment = make_augment(max_shift=max_shift, seed=0)
    started = time.perf_counter()
    for batch in split.train.images.split(batch_size):
        augment(batch)
    return time.perf_counter() - started
