"""Augmentation of training pairs, in batch, on the device: random shifts of each image.

The training loop calls the function :func:`make_augment` returns on each minibatch of training
pairs; evaluation pairs never pass through it. One gather moves every image of the batch by its
own offset (no per-image Python loop, no DataLoader). The offsets come from a generator of their
own, seeded from the run's seed: a run is bit-repeatable, and a recipe without augmentation
draws nothing, so its runs are exactly those of a loop without this module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# Offsets are drawn from their own stream, apart from the minibatch order's (seeded with the
# run's seed itself): seed + 2**32 differs from every run seed (those are below 2**31).
SEED_OFFSET = 1 << 32

Augment = Callable[[torch.Tensor], torch.Tensor]


def make_augment(*, max_shift: int, seed: int) -> Augment | None:
    """The augmentation of a run's training minibatches, or None when there is none.

    Args:
        max_shift: Largest shift in pixels along each axis (0: no augmentation).
        seed: The run's seed.

    Returns:
        ``images (n, 2, h, w) → shifted images``, drawing fresh offsets at every call.
    """
    if max_shift == 0:
        return None
    generator = torch.Generator().manual_seed(seed + SEED_OFFSET)
    return lambda images: random_shift(images=images, max_shift=max_shift, generator=generator)


def random_shift(*, images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move each image of each pair by its own whole-pixel offset in ``[-max_shift, max_shift]²``.

    The two images of a pair move independently. Pixels moved in from outside the frame copy
    the nearest edge pixel, which for MNIST digits is the background.

    Args:
        images: ``(n, channels, height, width)`` on any device.
        max_shift: Largest shift in pixels along each axis.
        generator: A CPU generator (offsets are drawn on the CPU: the same on every device).

    Returns:
        A new tensor of the same shape, dtype and device.
    """
    n, channels, height, width = images.shape
    offsets = torch.randint(-max_shift, max_shift + 1, (2, n, channels, 1), generator=generator)
    down, right = offsets.to(images.device)
    padded = F.pad(images, (max_shift,) * 4, mode="replicate")
    # Output pixel (y, x) reads input pixel (y - down, x - right): padded (y - down + max_shift, …).
    rows = torch.arange(height, device=images.device) + max_shift - down  # (n, channels, height)
    cols = torch.arange(width, device=images.device) + max_shift - right  # (n, channels, width)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(channels, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[..., :, None], cols[..., None, :]]
