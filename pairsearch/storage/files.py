"""Facts about a storage that is one file on this host: its name's length, a folder, writability."""

from __future__ import annotations

import os
from pathlib import Path

from pairsearch import paths
from pairsearch.defaults import NAME_MAX_BYTES
from pairsearch.errors import PairsearchError
from pairsearch.storage.locks import LONGEST_SUFFIX_BYTES


def check_name_lengths(path: Path) -> None:
    """Refuse a path the file system cannot hold, with the lock files made beside it.

    A lock file is named after the storage file plus a suffix, so the storage file's own name
    must leave room for it (else the first lock would fail mid-run).
    """
    paths.check_name(path.name, what="the storage file name", room=LONGEST_SUFFIX_BYTES, room_for="its lock files",
                     fix=f"give a name of at most {NAME_MAX_BYTES - LONGEST_SUFFIX_BYTES} bytes")
    paths.check_path(path, what="the storage path", fix="give a shorter path",
                     room=LONGEST_SUFFIX_BYTES, room_for="its lock files' suffix")


def refuse_a_folder(*, path: Path) -> None:
    """Refuse a folder given where a storage file belongs."""
    if path.is_dir():
        raise PairsearchError(
            f"the storage path {path} is a directory, not a storage file; name a file in it, "
            f"e.g. {path / 'pairsearch.db'}")


def check_writable_beside(*, path: Path, redacted: str) -> None:
    """Refuse a file, or a folder for it and its lock files, that this process cannot write."""
    folder = path.resolve().parent
    while not folder.exists():  # a new folder is made where the nearest existing one allows it
        folder = folder.parent
    if not _can_write(folder):
        raise PairsearchError(
            f"cannot write beside {path}: {_why_not_writable(folder)} "
            "(the storage's folder must be writable: it holds the study lock files)"
        )
    if path.exists() and not _can_write(path):
        raise PairsearchError(f"cannot write to {redacted}: a readonly database here ({_why_not_writable(path)})")


def _can_write(path: Path) -> bool:
    return os.access(path, os.W_OK)  # also False for chattr +i and read-only mounts, even for root


def _why_not_writable(path: Path) -> str:
    return "Read-only file system" if os.statvfs(path).f_flag & os.ST_RDONLY else "Permission denied"


def unreadable_log(path: Path) -> str | None:
    """Why SQLite cannot open ``path`` to read it, when the cause is its write-ahead log: the log
    (left by a writer that did not close it) must be updated to read the file, and the folder is
    read-only. None when that is not the cause."""
    log = path.with_name(path.name + "-wal")
    if not log.exists() or os.access(path.parent, os.W_OK):
        return None
    return (f"it has a write-ahead log ({log.name}) that SQLite must update to read it, and its folder is "
            f"read-only: copy {path.name} and {log.name} to a writable folder, or open it where it was written")
