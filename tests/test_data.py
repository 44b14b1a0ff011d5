"""The data protocol on real mnist5k, the cache, source resolution and the IDX reader."""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np
import pytest
import torch

from pairsearch import data, idx, sources
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


# --- pools -----------------------------------------------------------------------------------


def test_mnist5k_pools_have_the_protocol_sizes(pools):
    assert pools.source == "mnist5k"
    assert pools.train_images.shape == (3000, 14, 14)
    assert pools.test_images.shape == (2000, 14, 14)
    assert pools.train_images.dtype == torch.float32
    assert pools.train_labels.dtype == torch.int64
    assert torch.bincount(pools.train_labels, minlength=10).tolist() == [300] * 10
    assert torch.bincount(pools.test_labels, minlength=10).tolist() == [200] * 10
    for images in (pools.train_images, pools.test_images):
        assert images.min() >= 0 and images.max() <= 255
        assert images.max() > 200  # pixel scale, not [0, 1]


def test_describe_pools_reports_sizes_counts_and_fingerprint(pools):
    info = sources.describe_pools(pools)
    assert info["source"] == "mnist5k"
    assert info["train_pool"] == 3000 and info["test_pool"] == 2000
    assert info["train_class_counts"] == [300] * 10
    assert info["test_class_counts"] == [200] * 10
    assert info["fingerprint"] == pools.fingerprint


# --- pairs -----------------------------------------------------------------------------------


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


# --- fingerprint and cache -------------------------------------------------------------------


def test_cache_is_written_and_reloaded_with_the_same_fingerprint(tmp_path, pools):
    cache = sources.pools_cache_path(source="mnist5k", data_dir=tmp_path)
    assert cache == tmp_path / "cache" / "mnist5k-pools.pt"
    assert not cache.exists()
    built = sources.load_pools(source="mnist5k", data_dir=tmp_path)
    assert cache.is_file()
    assert not list(cache.parent.glob("*.tmp*"))  # the temporary file was renamed away
    reloaded = sources.load_pools(source="mnist5k", data_dir=tmp_path)
    assert built.fingerprint == reloaded.fingerprint == pools.fingerprint
    assert len(pools.fingerprint) == 16
    assert torch.equal(built.train_images, reloaded.train_images)
    assert torch.equal(built.test_labels, reloaded.test_labels)

    # a second load reads the cache rather than rebuilding: what the cache says is what it gets
    cached = torch.load(cache, weights_only=True)
    cached["pools"]["train_labels"] = torch.zeros_like(cached["pools"]["train_labels"])
    torch.save(cached, cache)
    assert sources.load_pools(source="mnist5k", data_dir=tmp_path).train_labels.sum() == 0


def test_fingerprint_changes_when_any_pool_changes(pools):
    images = pools.train_images.clone()
    images[0, 7, 7] += 1
    labels = pools.test_labels.clone()
    labels[0] = (labels[0] + 1) % 10
    fingerprints = {
        pools.fingerprint,
        dataclasses.replace(pools, train_images=images).fingerprint,
        dataclasses.replace(pools, test_labels=labels).fingerprint,
        dataclasses.replace(pools, test_images=pools.test_images[1:]).fingerprint,
    }
    assert len(fingerprints) == 4
    assert dataclasses.replace(pools, train_images=pools.train_images.clone()).fingerprint == pools.fingerprint


# --- sources and the IDX reader --------------------------------------------------------------


def _idx_bytes(array: np.ndarray) -> bytes:
    """MNIST's IDX format: 0x0000, type 0x08 (unsigned byte), ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx(path, array: np.ndarray, *, gz: bool, cut: int = 0):
    content = _idx_bytes(array)
    content = content[: len(content) - cut]
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)
    return path


def read_images(path):
    return idx.read_idx(path=path, item_shape=(28, 28), what="images")


def _write_fake_mnist(data_dir, *, gz: bool, n_train: int = 40, n_test: int = 20) -> dict:
    """Random-byte images and labels in MNIST's four files under ``data_dir/MNIST/raw``."""
    rng = np.random.default_rng(7)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for key, name in idx.IDX_FILES.items():
        _write_idx(raw / name, arrays[key], gz=gz)
    return arrays


def test_idx_header_magic_numbers_are_mnists():
    images = _idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    labels = _idx_bytes(np.zeros(3, dtype=np.uint8))
    assert images[:4] == (0x00000803).to_bytes(4, "big") and images[4:8] == (3).to_bytes(4, "big")
    assert labels[:4] == (0x00000801).to_bytes(4, "big")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_source_reads_idx_files_and_pools_2x2(tmp_path, gz):
    arrays = _write_fake_mnist(tmp_path, gz=gz)
    assert sources.mnist_files_present(data_dir=tmp_path)
    pools = sources.load_pools(source="mnist", data_dir=tmp_path)
    assert pools.source == "mnist"
    assert pools.train_images.shape == (40, 14, 14) and pools.test_images.shape == (20, 14, 14)
    assert pools.train_labels.tolist() == arrays["train_labels"].tolist()
    assert pools.test_labels.tolist() == arrays["test_labels"].tolist()
    assert pools.train_labels.dtype == torch.int64
    for key in ("train_images", "test_images"):
        raw = arrays[key].astype(np.float64)
        by_hand = raw.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))  # multiples of 1/4: exact in float32
        assert np.array_equal(getattr(pools, key).numpy(), by_hand.astype(np.float32))
    assert sources.pools_cache_path(source="mnist", data_dir=tmp_path).is_file()


def test_stale_cache_version_is_rebuilt(tmp_path):
    arrays = _write_fake_mnist(tmp_path, gz=False)
    cache = sources.pools_cache_path(source="mnist", data_dir=tmp_path)
    cache.parent.mkdir(parents=True)
    stale = {key: torch.zeros(1) for key in idx.IDX_FILES}
    torch.save({"version": sources.CACHE_VERSION - 1, "pools": stale}, cache)
    pools = sources.load_pools(source="mnist", data_dir=tmp_path)
    assert pools.train_labels.tolist() == arrays["train_labels"].tolist()
    assert torch.load(cache, weights_only=True)["version"] == sources.CACHE_VERSION


def test_resolve_source_auto_prefers_mnist_files_when_present(tmp_path):
    assert sources.resolve_source(dataset="auto", data_dir=tmp_path) == "mnist5k"
    assert sources.resolve_source(dataset="mnist5k", data_dir=tmp_path) == "mnist5k"
    _write_fake_mnist(tmp_path, gz=True)
    assert sources.resolve_source(dataset="auto", data_dir=tmp_path) == "mnist"
    assert sources.resolve_source(dataset="mnist", data_dir=tmp_path) == "mnist"
    assert sources.resolve_source(dataset="mnist5k", data_dir=tmp_path) == "mnist5k"


def test_auto_needs_all_four_mnist_files(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    (tmp_path / "MNIST" / "raw" / idx.IDX_FILES["test_labels"]).unlink()
    assert not sources.mnist_files_present(data_dir=tmp_path)
    assert sources.resolve_source(dataset="auto", data_dir=tmp_path) == "mnist5k"


def test_mnist_without_files_says_how_to_get_them(tmp_path):
    with pytest.raises(PairsearchError) as caught:
        sources.resolve_source(dataset="mnist", data_dir=tmp_path)
    message = str(caught.value)
    assert "pairsearch data download" in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "mnist5k" in message and "\n" not in message


def test_unknown_dataset_names_the_choices(tmp_path):
    with pytest.raises(PairsearchError, match="auto, mnist, mnist5k"):
        sources.resolve_source(dataset="cifar", data_dir=tmp_path)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_truncated_idx_file_raises(tmp_path, gz):
    path = _write_idx(tmp_path / "images", np.zeros((5, 28, 28), dtype=np.uint8), gz=gz, cut=100)
    with pytest.raises(PairsearchError, match="truncated"):
        read_images(path)


@pytest.mark.parametrize("damage", ["cut-off", "not-gzip"])
def test_damaged_gzip_file_raises(tmp_path, damage):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    compressed = gzip.compress(_idx_bytes(np.arange(5 * 784).reshape(5, 28, 28) % 256))
    path.write_bytes(compressed[: len(compressed) // 2] if damage == "cut-off" else b"plain bytes")
    with pytest.raises(PairsearchError, match="train-images"):
        read_images(path)


def test_non_idx_file_raises(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(PairsearchError, match="not an IDX file"):
        idx.read_idx(path=path, item_shape=(), what="labels")


def test_truncated_mnist_file_fails_load_pools_cleanly(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    images = tmp_path / "MNIST" / "raw" / idx.IDX_FILES["test_images"]
    images.write_bytes(images.read_bytes()[:-1])
    with pytest.raises(PairsearchError, match="truncated"):
        sources.load_pools(source="mnist", data_dir=tmp_path)
    assert not sources.pools_cache_path(source="mnist", data_dir=tmp_path).exists()


def test_damaged_cache_is_rebuilt(tmp_path, pools):
    """A corrupt pool cache is not an error: the pools are rebuilt from the source."""
    first = sources.load_pools(source="mnist5k", data_dir=tmp_path)
    cache = sources.pools_cache_path(source="mnist5k", data_dir=tmp_path)
    cache.write_bytes(b"not a torch file")
    again = sources.load_pools(source="mnist5k", data_dir=tmp_path)
    assert again.fingerprint == first.fingerprint == pools.fingerprint
    assert torch.load(cache, weights_only=True)["version"] == sources.CACHE_VERSION


# --- IDX files that are not MNIST's (issue 11) -------------------------------------------------


def _replace_idx(data_dir, key: str, array: np.ndarray):
    """Overwrite one of the four MNIST files under ``data_dir`` with ``array``; its path."""
    path = data_dir / "MNIST" / "raw" / idx.IDX_FILES[key]
    _write_idx(path, array, gz=False)
    return path


def _refused(data_dir, *fragments: str) -> str:
    """``load_pools`` refuses the files with one line holding each fragment; no cache is left."""
    with pytest.raises(PairsearchError) as caught:
        sources.load_pools(source="mnist", data_dir=data_dir)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    assert not sources.pools_cache_path(source="mnist", data_dir=data_dir).exists()
    return message


def test_8x8_images_are_refused_naming_the_file(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    path = _replace_idx(tmp_path, "train_images", np.zeros((40, 8, 8), dtype=np.uint8))
    assert sources.resolve_source(dataset="auto", data_dir=tmp_path) == "mnist"  # present, so chosen
    _refused(tmp_path, str(path), "holds 40×8×8, not MNIST images (N×28×28)")


def test_labels_outside_0_to_9_are_refused_naming_the_file(tmp_path):
    arrays = _write_fake_mnist(tmp_path, gz=False)
    labels = arrays["test_labels"].copy()
    labels[[3, 7]] = [12, 255]
    path = _replace_idx(tmp_path, "test_labels", labels)
    _refused(tmp_path, str(path), "label 12 at index 3 is not a digit 0–9 (2 such labels)")


def test_images_and_labels_of_different_counts_are_refused(tmp_path):
    arrays = _write_fake_mnist(tmp_path, gz=False)
    path = _replace_idx(tmp_path, "train_labels", arrays["train_labels"][:39])
    _refused(tmp_path, str(path), "holds 39 labels for the 40 images of", idx.IDX_FILES["train_images"])


def test_swapped_images_and_labels_are_refused(tmp_path):
    arrays = _write_fake_mnist(tmp_path, gz=False)
    path = _replace_idx(tmp_path, "test_images", arrays["test_labels"])
    _refused(tmp_path, str(path), "holds 20, not MNIST images (N×28×28)")


def test_a_file_of_no_images_is_refused(tmp_path):
    _write_fake_mnist(tmp_path, gz=False)
    _replace_idx(tmp_path, "train_images", np.zeros((0, 28, 28), dtype=np.uint8))
    _replace_idx(tmp_path, "train_labels", np.zeros(0, dtype=np.uint8))
    _refused(tmp_path, idx.IDX_FILES["train_images"], "holds no images")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes([0, 0, 8, 3]) + (40).to_bytes(4, "big") + (28).to_bytes(4, "big"), "header is cut short"),
        (bytes([0, 0, 8, 0, 7]), "holds a single value, not MNIST images"),
        (bytes([0, 0, 9, 3]), "not an IDX file of unsigned bytes"),  # 0x09: signed bytes
        (b"", "not an IDX file of unsigned bytes"),
        (_idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8)) + b"\x00", "longer than its header says"),
    ],
    ids=["short-header", "zero-dims", "signed-bytes", "empty", "trailing-bytes"],
)
def test_malformed_idx_images_are_refused(tmp_path, content, words):
    path = tmp_path / "images"
    path.write_bytes(content)
    with pytest.raises(PairsearchError, match=words) as caught:
        read_images(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_header_promising_terabytes_is_read_no_further_than_the_file(tmp_path, gz):
    """4·10⁹ images of 28×28 in the header, 10 in the file: truncated, nothing huge allocated."""
    header = bytes([0, 0, 8, 3]) + (4_000_000_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    content = header + bytes(10 * 784)
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(PairsearchError, match="truncated: header says \\(4000000000, 28, 28\\)"):
        read_images(path)


@pytest.mark.parametrize(
    "damage",
    ["8x8", "label-12", "missing-key", "not-a-dict"],
)
def test_a_cache_that_does_not_hold_protocol_pools_is_rebuilt(tmp_path, damage):
    """Only a cache of 14×14 images and digit labels is used; anything else is rebuilt (and checked)."""
    arrays = _write_fake_mnist(tmp_path, gz=False)
    good = sources.load_pools(source="mnist", data_dir=tmp_path)
    cache = sources.pools_cache_path(source="mnist", data_dir=tmp_path)
    saved = torch.load(cache, weights_only=True)
    pools = saved["pools"]
    if damage == "8x8":
        pools["train_images"] = torch.zeros(40, 4, 4)
    elif damage == "label-12":
        pools["test_labels"] = torch.full((20,), 12, dtype=torch.int64)
    elif damage == "missing-key":
        del pools["test_labels"]
    else:
        saved["pools"] = [1, 2]
    torch.save(saved, cache)
    again = sources.load_pools(source="mnist", data_dir=tmp_path)
    assert again.fingerprint == good.fingerprint
    assert again.train_labels.tolist() == arrays["train_labels"].tolist()


def test_a_cache_of_bad_pools_does_not_let_bad_files_through(tmp_path):
    """A cache written from 8×8 files (before they were checked) is not used: the files are refused."""
    _write_fake_mnist(tmp_path, gz=False)
    sources.load_pools(source="mnist", data_dir=tmp_path)
    path = _replace_idx(tmp_path, "train_images", np.zeros((40, 8, 8), dtype=np.uint8))
    cache = sources.pools_cache_path(source="mnist", data_dir=tmp_path)
    saved = torch.load(cache, weights_only=True)
    saved["origin"] = sources._source_stamp(source="mnist", data_dir=tmp_path)  # as an old version wrote it
    saved["pools"]["train_images"] = torch.zeros(40, 4, 4)
    torch.save(saved, cache)
    with pytest.raises(PairsearchError, match="holds 40×8×8") as caught:
        sources.load_pools(source="mnist", data_dir=tmp_path)
    assert str(path) in str(caught.value)
