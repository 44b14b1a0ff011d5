"""MNIST's IDX files, read and checked: a file that is not what MNIST's is gets one clear error.

An IDX file is a big-endian header (magic ``0x00 0x00 0x08 ndim``, then ``ndim`` sizes) and
the unsigned bytes it promises, nothing more; torchvision keeps the four MNIST files (plain
or gzipped) under ``<data_dir>/MNIST/raw``.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from pairsearch.errors import PairsearchError

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_UNSIGNED_BYTES = b"\x00\x00\x08"  # an IDX magic number's first three bytes; the fourth is ndim
IMAGE_SIDE = 28  # MNIST images are 28×28 (pooled to 14×14)
N_DIGITS = 10
IDX_CHUNK_BYTES = 1 << 22  # an IDX file is read in pieces: memory follows the file, not its header


def read_mnist_files(*, images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split's images (N×28×28) and labels (N digits 0–9), checked against each other.

    Raises:
        PairsearchError: naming the file that is not what MNIST's is.
    """
    images = read_idx(path=images_path, item_shape=(IMAGE_SIDE, IMAGE_SIDE), what="images")
    labels = read_idx(path=labels_path, item_shape=(), what="labels")
    if len(images) == 0:
        raise PairsearchError(f"{images_path} holds no images")
    if len(labels) != len(images):
        raise PairsearchError(
            f"{labels_path} holds {len(labels)} labels for the {len(images)} images of {images_path}"
        )
    outside = np.flatnonzero(labels >= N_DIGITS)
    if len(outside):
        raise PairsearchError(
            f"{labels_path}: label {labels[outside[0]]} at index {outside[0]} is not a digit 0–9 "
            f"({len(outside)} such labels)"
        )
    return images, labels


def mnist_raw_dir(*, data_dir: Path) -> Path:
    """Where full MNIST's IDX files live under a data dir (torchvision's layout)."""
    return Path(data_dir) / "MNIST" / "raw"


def idx_path(*, data_dir: Path, name: str) -> Path | None:
    """The IDX file ``name`` under :func:`mnist_raw_dir`, plain or gzipped; None where neither is."""
    raw = mnist_raw_dir(data_dir=data_dir)
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(*, path: Path, item_shape: tuple[int, ...], what: str) -> np.ndarray:
    """Read an IDX file of unsigned bytes (MNIST's format, plain or gzipped).

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.
        item_shape: the shape of one item: ``(28, 28)`` for images, ``()`` for labels.
        what: what the file holds, for messages (``images``, ``labels``).

    Raises:
        PairsearchError: naming the file, when it cannot be read, is not IDX, holds items of
            another shape, or is cut short or followed by more bytes than its header says.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            shape = _read_idx_shape(stream=stream, path=path)
            _check_idx_shape(shape=shape, item_shape=item_shape, what=what, path=path)
            content = _read_at_most(stream=stream, size=math.prod(shape) + 1)
    except (EOFError, OSError, zlib.error) as error:  # cut-off or corrupt gzip stream, unreadable file
        raise PairsearchError(f"{path} cannot be read ({error}); copy or download it again") from None
    expected = math.prod(shape)
    if len(content) != expected:
        state = "truncated" if len(content) < expected else "longer than its header says"
        raise PairsearchError(f"{path} is {state}: header says {shape}")
    return np.frombuffer(content, dtype=np.uint8).reshape(shape)


def _read_idx_shape(*, stream, path: Path) -> tuple[int, ...]:
    """The dimensions in an IDX header: magic 0x0000, type 0x08 (unsigned byte), ndim, sizes."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:3] != IDX_UNSIGNED_BYTES:
        raise PairsearchError(f"{path} is not an IDX file of unsigned bytes")
    ndim = magic[3]
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise PairsearchError(f"{path} is truncated: its header is cut short")
    return tuple(int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim))


def _check_idx_shape(*, shape: tuple[int, ...], item_shape: tuple[int, ...], what: str, path: Path) -> None:
    if shape[1:] != item_shape or len(shape) != 1 + len(item_shape):
        expected = "×".join(map(str, ("N", *item_shape)))
        found = "×".join(map(str, shape)) or "a single value"
        raise PairsearchError(f"{path} holds {found}, not MNIST {what} ({expected})")


def _read_at_most(*, stream, size: int) -> bytes:
    """Up to ``size`` bytes, read in pieces: a header may promise far more than the file has."""
    pieces, left = [], size
    while left > 0:
        piece = stream.read(min(left, IDX_CHUNK_BYTES))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)
