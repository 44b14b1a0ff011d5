"""The MNIST sources: pools, their fingerprint and cache, choosing a source, and files that are not MNIST's."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from mnist_files import write_fake_mnist, write_idx

from pairsearch.data import cachefacts, idx, sources
from pairsearch.errors import PairsearchError


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


def test_data_info_reads_the_facts_beside_the_cache_while_they_describe_it(tmp_path, pools, monkeypatch):
    """``pool_facts`` keeps describe_pools' facts beside the cache and reads them back without
    loading the pools (without torch), until the cache file is another one or the facts file is damaged."""
    facts = sources.pool_facts(source="mnist5k", data_dir=tmp_path)  # builds the cache, describes it
    assert facts == sources.describe_pools(pools)
    cache = sources.pools_cache_path(source="mnist5k", data_dir=tmp_path)
    facts_file = cache.with_suffix(".json")
    assert facts_file.is_file() and not list(cache.parent.glob("*.tmp*"))

    def not_loaded(**_):
        raise AssertionError("the pools were loaded")

    with monkeypatch.context() as patched:
        patched.setattr(sources, "load_pools", not_loaded)
        assert sources.pool_facts(source="mnist5k", data_dir=tmp_path) == facts

    # an edited cache file is another file: its facts are stale, the pools are read again
    cached = torch.load(cache, weights_only=True)
    cached["pools"]["train_labels"] = torch.zeros_like(cached["pools"]["train_labels"])
    torch.save(cached, cache)
    edited = sources.pool_facts(source="mnist5k", data_dir=tmp_path)
    assert edited["train_class_counts"] == [3000] + [0] * 9 and edited["fingerprint"] != facts["fingerprint"]

    stored = json.loads(facts_file.read_text())
    damaged = [b"", b"{", b"\xff", b"[]", b" " * (1 << 17), json.dumps({**stored, "version": 0}).encode(),
               json.dumps({**stored, "facts": {**stored["facts"], "source": "mnist"}}).encode(),
               json.dumps({**stored, "facts": {**stored["facts"], "train_pool": "3000"}}).encode(),
               json.dumps({**stored, "facts": {**stored["facts"], "extra": 1}}).encode()]
    for text in damaged:
        facts_file.write_bytes(text)
        assert sources.pool_facts(source="mnist5k", data_dir=tmp_path) == edited, text[:80]
        assert json.loads(facts_file.read_text()) == stored  # rewritten


def test_facts_that_cannot_be_written_cost_only_time(tmp_path, pools, monkeypatch):
    def refused(**_):
        raise PairsearchError("cannot write the pool cache's facts: read-only file system")

    sources.load_pools(source="mnist5k", data_dir=tmp_path)
    monkeypatch.setattr(cachefacts, "write_whole", refused)
    assert sources.pool_facts(source="mnist5k", data_dir=tmp_path) == sources.describe_pools(pools)
    assert not sources.pools_cache_path(source="mnist5k", data_dir=tmp_path).with_suffix(".json").exists()


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


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_source_reads_idx_files_and_pools_2x2(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path, gz=gz)
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
    arrays = write_fake_mnist(tmp_path, gz=False)
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
    write_fake_mnist(tmp_path, gz=True)
    assert sources.resolve_source(dataset="auto", data_dir=tmp_path) == "mnist"
    assert sources.resolve_source(dataset="mnist", data_dir=tmp_path) == "mnist"
    assert sources.resolve_source(dataset="mnist5k", data_dir=tmp_path) == "mnist5k"


def test_auto_needs_all_four_mnist_files(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
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


def test_truncated_mnist_file_fails_load_pools_cleanly(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
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


def _replace_idx(data_dir, key: str, array: np.ndarray):
    """Overwrite one of the four MNIST files under ``data_dir`` with ``array``; its path."""
    path = data_dir / "MNIST" / "raw" / idx.IDX_FILES[key]
    write_idx(path, array, gz=False)
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
    write_fake_mnist(tmp_path, gz=False)
    path = _replace_idx(tmp_path, "train_images", np.zeros((40, 8, 8), dtype=np.uint8))
    assert sources.resolve_source(dataset="auto", data_dir=tmp_path) == "mnist"  # present, so chosen
    _refused(tmp_path, str(path), "holds 40×8×8, not MNIST images (N×28×28)")


def test_labels_outside_0_to_9_are_refused_naming_the_file(tmp_path):
    arrays = write_fake_mnist(tmp_path, gz=False)
    labels = arrays["test_labels"].copy()
    labels[[3, 7]] = [12, 255]
    path = _replace_idx(tmp_path, "test_labels", labels)
    _refused(tmp_path, str(path), "label 12 at index 3 is not a digit 0–9 (2 such labels)")


def test_images_and_labels_of_different_counts_are_refused(tmp_path):
    arrays = write_fake_mnist(tmp_path, gz=False)
    path = _replace_idx(tmp_path, "train_labels", arrays["train_labels"][:39])
    _refused(tmp_path, str(path), "holds 39 labels for the 40 images of", idx.IDX_FILES["train_images"])


def test_swapped_images_and_labels_are_refused(tmp_path):
    arrays = write_fake_mnist(tmp_path, gz=False)
    path = _replace_idx(tmp_path, "test_images", arrays["test_labels"])
    _refused(tmp_path, str(path), "holds 20, not MNIST images (N×28×28)")


def test_a_file_of_no_images_is_refused(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
    _replace_idx(tmp_path, "train_images", np.zeros((0, 28, 28), dtype=np.uint8))
    _replace_idx(tmp_path, "train_labels", np.zeros(0, dtype=np.uint8))
    _refused(tmp_path, idx.IDX_FILES["train_images"], "holds no images")


@pytest.mark.parametrize(
    "damage",
    ["8x8", "label-12", "missing-key", "not-a-dict"],
)
def test_a_cache_that_does_not_hold_protocol_pools_is_rebuilt(tmp_path, damage):
    """Only a cache of 14×14 images and digit labels is used; anything else is rebuilt (and checked)."""
    arrays = write_fake_mnist(tmp_path, gz=False)
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
    write_fake_mnist(tmp_path, gz=False)
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

