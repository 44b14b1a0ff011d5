"""Shifts of the training images: each image of each pair by its own seeded offset, in batch."""

from __future__ import annotations

import torch

from pairsearch.training.augment import SEED_OFFSET, make_augment, random_shift


def shifted_by_hand(image: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """One image moved by (down, right), edge pixels repeated: the slow, obvious way."""
    height, width = image.shape
    rows = [min(max(y - down, 0), height - 1) for y in range(height)]
    cols = [min(max(x - right, 0), width - 1) for x in range(width)]
    return image[rows][:, cols]


def test_each_image_of_each_pair_moves_by_its_own_offset():
    images = torch.randn(64, 2, 14, 14)
    generator = torch.Generator().manual_seed(3)
    offsets = torch.randint(-2, 3, (2, 64, 2, 1), generator=torch.Generator().manual_seed(3))

    shifted = random_shift(images=images, max_shift=2, generator=generator)

    for n in range(64):
        for c in range(2):
            down, right = int(offsets[0, n, c]), int(offsets[1, n, c])
            assert torch.equal(shifted[n, c], shifted_by_hand(images[n, c], down, right))
    # The two images of a pair move independently, and not every image stays put.
    assert (offsets[:, :, 0] != offsets[:, :, 1]).any()
    assert (offsets != 0).any() and not torch.equal(shifted, images)


def test_augmentation_is_seeded_and_off_for_max_shift_zero():
    images = torch.randn(32, 2, 14, 14)
    first, again, other = (make_augment(max_shift=1, seed=seed) for seed in (5, 5, 6))
    assert torch.equal(first(images), again(images))
    assert not torch.equal(first(images), other(images))
    assert make_augment(max_shift=0, seed=5) is None
    assert SEED_OFFSET > 2**31  # its stream is never the minibatch order's of any run seed
