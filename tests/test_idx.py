"""MNIST's IDX reader: the header, gzip, and every way a file can be wrong."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from mnist_files import idx_bytes, write_idx

from pairsearch.data import idx
from pairsearch.errors import PairsearchError


def read_images(path):
    return idx.read_idx(path=path, item_shape=(28, 28), what="images")


def test_idx_header_magic_numbers_are_mnists():
    images = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    labels = idx_bytes(np.zeros(3, dtype=np.uint8))
    assert images[:4] == (0x00000803).to_bytes(4, "big") and images[4:8] == (3).to_bytes(4, "big")
    assert labels[:4] == (0x00000801).to_bytes(4, "big")


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_truncated_idx_file_raises(tmp_path, gz):
    path = write_idx(tmp_path / "images", np.zeros((5, 28, 28), dtype=np.uint8), gz=gz, cut=100)
    with pytest.raises(PairsearchError, match="truncated"):
        read_images(path)


@pytest.mark.parametrize("damage", ["cut-off", "not-gzip"])
def test_damaged_gzip_file_raises(tmp_path, damage):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    compressed = gzip.compress(idx_bytes(np.arange(5 * 784).reshape(5, 28, 28) % 256))
    path.write_bytes(compressed[: len(compressed) // 2] if damage == "cut-off" else b"plain bytes")
    with pytest.raises(PairsearchError, match="train-images"):
        read_images(path)


def test_non_idx_file_raises(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(PairsearchError, match="not an IDX file"):
        idx.read_idx(path=path, item_shape=(), what="labels")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes([0, 0, 8, 3]) + (40).to_bytes(4, "big") + (28).to_bytes(4, "big"), "header is cut short"),
        (bytes([0, 0, 8, 0, 7]), "holds a single value, not MNIST images"),
        (bytes([0, 0, 9, 3]), "not an IDX file of unsigned bytes"),  # 0x09: signed bytes
        (b"", "not an IDX file of unsigned bytes"),
        (idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8)) + b"\x00", "longer than its header says"),
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

