"""What each storage kind can do, asked of the kind (or the handle), never of its name."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from pairsearch.errors import PairsearchError
from pairsearch.storage import kinds
from pairsearch.storage.handle import StorageHandle


@pytest.mark.parametrize(("url", "lock", "heartbeat", "one_file"), [
    ("sqlite:///p.db", True, True, True),
    ("postgresql+psycopg://u:p@h/db", True, True, False),
    ("journal:j.log", True, False, True),
    ("grpc://localhost:13000", False, False, False),
])
def test_each_kind_says_what_it_can_do(url, lock, heartbeat, one_file):
    handle = StorageHandle(url=url)
    assert (handle.has_lock, handle.has_heartbeat, handle.file_path is not None) == (lock, heartbeat, one_file)
    assert handle.kind_name in url


def test_a_handle_crosses_to_a_worker_process_with_the_same_kind():
    handle = StorageHandle.resolve(url="sqlite:///storage/p.db")
    copied = pickle.loads(pickle.dumps(handle))
    assert copied == handle and copied.kind is kinds.SQLITE


def test_a_kind_given_by_name_is_the_kind():
    assert StorageHandle(url="sqlite:///p.db", kind="sqlite").kind is kinds.SQLITE
    with pytest.raises(PairsearchError, match="unknown storage kind"):
        StorageHandle(url="sqlite:///p.db", kind="mysql")


def test_no_module_outside_the_storage_wing_compares_kinds():
    package = Path(__file__).resolve().parent.parent / "pairsearch"
    asks_the_name = re.compile(r"(storage|handle)\.kind\b(?!_name)|kind_name\s*(==|!=|\bin\b)")
    for path in package.rglob("*.py"):
        if "storage" not in path.relative_to(package).parts:
            assert not asks_the_name.search(path.read_text()), f"{path.name} asks a storage's kind by name"
