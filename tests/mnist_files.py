"""MNIST's IDX files written by the tests: real bytes in the real format, tiny and seeded."""

from __future__ import annotations

import gzip

import numpy as np

from pairsearch.data import idx


def idx_bytes(array: np.ndarray) -> bytes:
    """MNIST's IDX format: 0x0000, type 0x08 (unsigned byte), ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array: np.ndarray, *, gz: bool, cut: int = 0):
    content = idx_bytes(array)
    content = content[: len(content) - cut]
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)
    return path


def write_fake_mnist(data_dir, *, gz: bool, n_train: int = 40, n_test: int = 20) -> dict:
    """Random-byte images and labels in MNIST's four files under ``data_dir/MNIST/raw``."""
    rng = np.random.default_rng(7)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    raw = idx.mnist_raw_dir(data_dir=data_dir)
    raw.mkdir(parents=True, exist_ok=True)
    for key, name in idx.IDX_FILES.items():
        write_idx(raw / name, arrays[key], gz=gz)
    return arrays

