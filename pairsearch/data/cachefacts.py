"""What ``pairsearch data info`` says of a pool cache, kept beside it as JSON: read without torch.

``<source>-pools.json`` holds the facts :func:`pairsearch.data.sources.describe_pools` gave of
the pools in ``<source>-pools.pt``, with the cache file they describe (its device, inode, size
and modification time) and the stamp of what it was built from (cache version, source files).
Another cache file there (rebuilt, replaced, edited), another stamp, or a facts file that is
damaged or not this shape makes them stale: the pools are then read again and the facts rewritten.
The file only saves time: one that cannot be written (a read-only or full data dir) is left out.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from pairsearch.data.folder import write_whole
from pairsearch.errors import PairsearchError

FACTS_VERSION = 1  # the shape of describe_pools' dict: its keys, below
FACT_KEYS = {"source", "fingerprint", "train_pool", "test_pool", "train_class_counts", "test_class_counts"}
MAX_FACTS_BYTES = 1 << 16  # a facts file is a few hundred bytes: anything larger is not one


def facts_path(cache: Path) -> Path:
    """The facts file beside the cache file ``cache``."""
    return cache.with_suffix(".json")


def read_facts(*, cache: Path, stamp: dict, source: str) -> dict | None:
    """The facts beside ``cache`` if they describe that file as it is now, built as ``stamp`` says.

    Args:
        cache: The pool cache file.
        stamp: What the cache must have been built from (cache version, source files' sizes and times).
        source: The source the facts must name.

    Returns:
        The facts, or None when there are none or they are stale.
    """
    identity = _identity(cache)
    path = facts_path(cache)
    try:
        if identity is None or path.stat().st_size > MAX_FACTS_BYTES:
            return None
        stored = json.loads(path.read_bytes())
    except (OSError, ValueError):  # missing, unreadable, not JSON (UnicodeDecodeError is a ValueError)
        return None
    if not isinstance(stored, dict) or [stored.get(key) for key in ("version", "stamp", "cache")] != [
            FACTS_VERSION, stamp, identity]:
        return None
    facts = stored.get("facts")
    return facts if _well_formed(facts, source=source) else None


def write_facts(*, cache: Path, stamp: dict, facts: dict) -> None:
    """Keep ``facts`` beside ``cache``, naming the cache file as it is now; nothing if it cannot be written.

    Args:
        cache: The pool cache file the facts describe.
        stamp: What that cache was built from (as :func:`read_facts` will check it).
        facts: :func:`pairsearch.data.sources.describe_pools` of its pools.
    """
    identity = _identity(cache)
    if identity is None:
        return
    data = json.dumps({"version": FACTS_VERSION, "stamp": stamp, "cache": identity, "facts": facts})
    with contextlib.suppress(PairsearchError):  # write_whole leaves no temporary file behind
        write_whole(path=facts_path(cache), data=data.encode(), what="the pool cache's facts")


def _identity(path: Path) -> list[int] | None:
    """The file at ``path``: device, inode, size and modification time (None when there is none)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _well_formed(facts: object, *, source: str) -> bool:
    """Facts of this source, in this shape: sizes and class counts whole numbers, the fingerprint text."""
    if not isinstance(facts, dict) or set(facts) != FACT_KEYS or facts["source"] != source:
        return False
    counts = [facts["train_class_counts"], facts["test_class_counts"]]
    numbers = [facts["train_pool"], facts["test_pool"], *(n for c in counts if isinstance(c, list) for n in c)]
    return isinstance(facts["fingerprint"], str) and all(isinstance(c, list) for c in counts) and all(
        type(number) is int for number in numbers)
