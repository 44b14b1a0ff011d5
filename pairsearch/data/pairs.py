"""Real MNIST as digit pairs: the chosen source, pair drawing, the tuning and final splits.

The image pools themselves (full MNIST or mnist5k, read, checked and cached) come from
:mod:`pairsearch.data.sources`. torch is imported where pairs are drawn: a :class:`DataChoice`
is made and described without it (``pairsearch data info``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pairsearch.data.sources import (
    load_pools,
    mnist_raw_dir,
    pool_facts,
    pools_cache_path,
    resolve_source,
)
from pairsearch.errors import PairsearchError

if TYPE_CHECKING:
    import torch

    from pairsearch.data.sources import Pools


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
        return f"dataset: {self.source} ({reason} under {mnist_raw_dir(data_dir=self.data_dir)})"

    def load(self) -> Pools:
        """The pools, or one line when the data dir cannot be used (e.g. the cache is unwritable)."""
        with self._one_line_errors():
            return load_pools(source=self.source, data_dir=self.data_dir)

    def describe(self) -> dict:
        """What ``pairsearch data info`` prints: sizes, class counts, fingerprint, cache path."""
        with self._one_line_errors():
            facts = pool_facts(source=self.source, data_dir=self.data_dir)
        return {**facts, "cache": pools_cache_path(source=self.source, data_dir=self.data_dir)}

    @contextlib.contextmanager
    def _one_line_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            where = error.filename or self.data_dir
            raise PairsearchError(f"data dir {self.data_dir}: {error.strerror or error} ({where})") from None


# --- pairs -----------------------------------------------------------------------------------


def draw_pairs(
    *, images: torch.Tensor, labels: torch.Tensor, candidates: torch.Tensor, n_pairs: int,
    generator: torch.Generator,
) -> tuple[PairSet, torch.Tensor]:
    """Draw ``n_pairs`` pairs from ``candidates``, without replacement while they last.

    Returns the pairs and the (n_pairs, 2) pool indices of their images.
    """
    import torch

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
    import torch

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
    import torch

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
