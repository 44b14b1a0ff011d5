"""Pairs and splits: the protocol's shapes, pools kept apart, normalisation from training pairs only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pairsearch.data import pairs as data
from pairsearch.errors import PairsearchError

# Distinct mnist5k images never reach a cosine similarity of 0.993 once each is centred;
# an image and its own affinely rescaled copy reach 1 up to rounding.
SAME_IMAGE = 0.99999


def _unit_rows(images: torch.Tensor) -> torch.Tensor:
    """Each image centred and scaled to unit norm: invariant to a global (x - m) / s."""
    flat = images.reshape(-1, 14 * 14).double()
    flat = flat - flat.mean(dim=1, keepdim=True)
    return flat / flat.norm(dim=1, keepdim=True)


def _match(images: torch.Tensor, pool_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For every image in ``images`` (any leading shape), the best cosine and its pool index."""
    best, index = (_unit_rows(images) @ _unit_rows(pool_images).T).max(dim=1)
    shape = images.shape[:-2]
    return best.view(shape), index.view(shape)


@pytest.fixture(scope="module")
def final(pools):
    return data.final_split(pools=pools, seed=0)


@pytest.fixture(scope="module")
def tuning(pools):
    return data.tuning_split(pools=pools, seed=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairs_have_shapes_and_targets_of_the_protocol(pools, seed):
    split = data.final_split(pools=pools, seed=seed)
    for pairs in (split.train, split.evaluation):
        assert pairs.images.shape == (1000, 2, 14, 14)
        assert pairs.targets.shape == (1000,) and pairs.classes.shape == (1000, 2)
        assert len(pairs) == 1000
        expected = (pairs.classes[:, 0] <= pairs.classes[:, 1]).float()
        assert torch.equal(pairs.targets, expected)
        assert 0.50 <= pairs.targets.mean().item() <= 0.60  # 55 % for uniform classes


def test_positive_rate_is_about_55_percent(pools):
    rates = [data.final_split(pools=pools, seed=seed).train.targets.mean().item() for seed in range(5)]
    assert abs(np.mean(rates) - 0.55) < 0.02


def test_draw_pairs_uses_each_image_at_most_once_when_the_pool_allows(pools):
    generator = torch.Generator().manual_seed(3)
    candidates = torch.arange(500, 3000)
    pairs, chosen = data.draw_pairs(
        images=pools.train_images, labels=pools.train_labels, candidates=candidates,
        n_pairs=1000, generator=generator,
    )
    assert chosen.shape == (1000, 2)
    assert len(chosen.flatten().unique()) == 2000
    assert chosen.min() >= 500
    assert torch.equal(pairs.images, pools.train_images[chosen])
    assert torch.equal(pairs.classes, pools.train_labels[chosen])
    assert torch.equal(pairs.targets, (pairs.classes[:, 0] <= pairs.classes[:, 1]).float())


def test_draw_pairs_reuses_as_few_images_as_possible_when_the_pool_is_small(pools):
    candidates = torch.arange(100, 110)
    _, chosen = data.draw_pairs(
        images=pools.train_images, labels=pools.train_labels, candidates=candidates,
        n_pairs=8, generator=torch.Generator().manual_seed(0),
    )
    assert chosen.shape == (8, 2)
    assert set(chosen.flatten().tolist()) == set(candidates.tolist())  # every image used


def test_tuning_split_validation_images_are_unused_train_pool_images(pools, tuning):
    assert tuning.evaluation_name == "validation"
    assert len(tuning.train) == 1000
    assert len(tuning.evaluation) == 500  # mnist5k: 3000 - 2000 leftover images → 500 pairs
    train_best, train_index = _match(tuning.train.images, pools.train_images)
    val_best, val_index = _match(tuning.evaluation.images, pools.train_images)
    assert train_best.min() > SAME_IMAGE and val_best.min() > SAME_IMAGE
    train_used, val_used = set(train_index.flatten().tolist()), set(val_index.flatten().tolist())
    assert len(train_used) == 2000 and len(val_used) == 1000  # no reuse within a set
    assert not train_used & val_used
    assert torch.equal(tuning.evaluation.classes, pools.train_labels[val_index])
    # byte for byte: no validation image is a training image
    train_flat = tuning.train.images.reshape(-1, 196)
    val_flat = tuning.evaluation.images.reshape(-1, 196)
    assert torch.cdist(val_flat, train_flat).min() > 0


def test_tuning_split_never_touches_the_test_pool(pools, tuning):
    best, _ = _match(tuning.evaluation.images, pools.test_images)
    assert best.max() < SAME_IMAGE


def test_tuning_split_caps_validation_at_the_requested_size(pools):
    split = data.tuning_split(pools=pools, seed=0, n_train=200, n_validation=100)
    assert len(split.train) == 200 and len(split.evaluation) == 100


def test_tuning_split_without_leftover_images_raises(pools):
    with pytest.raises(PairsearchError, match="too small"):
        data.tuning_split(pools=pools, seed=0, n_train=1500)


def test_final_split_test_pairs_come_only_from_the_test_pool(pools, final):
    assert final.evaluation_name == "test"
    test_best, test_index = _match(final.evaluation.images, pools.test_images)
    assert test_best.min() > SAME_IMAGE
    assert len(test_index.flatten().unique()) == 2000  # the whole test pool, once each
    assert torch.equal(final.evaluation.classes, pools.test_labels[test_index])
    train_pool_best, _ = _match(final.evaluation.images, pools.train_images)
    assert train_pool_best.max() < SAME_IMAGE
    # and training pairs come only from the train pool
    train_best, train_index = _match(final.train.images, pools.train_images)
    assert train_best.min() > SAME_IMAGE
    assert len(train_index.flatten().unique()) == 2000
    assert _match(final.train.images, pools.test_images)[0].max() < SAME_IMAGE


def test_normalisation_uses_training_pair_statistics_only(pools, final):
    _, train_index = _match(final.train.images, pools.train_images)
    _, test_index = _match(final.evaluation.images, pools.test_images)
    raw_train, raw_test = pools.train_images[train_index], pools.test_images[test_index]
    mean, std = raw_train.mean(), raw_train.std()
    torch.testing.assert_close(final.train.images, (raw_train - mean) / std, atol=1e-5, rtol=0)
    torch.testing.assert_close(final.evaluation.images, (raw_test - mean) / std, atol=1e-5, rtol=0)
    assert abs(final.train.images.mean().item()) < 1e-5
    assert abs(final.train.images.std().item() - 1) < 1e-5
    test_mean, test_std = final.evaluation.images.mean().item(), final.evaluation.images.std().item()
    assert abs(test_mean) > 1e-4 or abs(test_std - 1) > 1e-3  # not standardised on itself


def test_tuning_split_is_normalised_with_training_statistics(tuning):
    assert abs(tuning.train.images.mean().item()) < 1e-5
    assert abs(tuning.train.images.std().item() - 1) < 1e-5
    val_mean, val_std = tuning.evaluation.images.mean().item(), tuning.evaluation.images.std().item()
    assert abs(val_mean) > 1e-4 or abs(val_std - 1) > 1e-3


@pytest.mark.parametrize("make", [data.final_split, data.tuning_split])
def test_same_seed_same_pairs_other_seed_other_pairs(pools, make):
    first, again, other = make(pools=pools, seed=5), make(pools=pools, seed=5), make(pools=pools, seed=6)
    for name in ("train", "evaluation"):
        a, b, c = getattr(first, name), getattr(again, name), getattr(other, name)
        assert torch.equal(a.images, b.images) and torch.equal(a.classes, b.classes)
        assert not torch.equal(a.images, c.images)
        assert not torch.equal(a.classes, c.classes)


def test_split_to_device_keeps_everything(final):
    moved = final.to("cpu")
    assert moved.evaluation_name == "test"
    assert torch.equal(moved.train.images, final.train.images)
    assert torch.equal(moved.evaluation.targets, final.evaluation.targets)

