"""Facts about a storage that is one file on this host: whether it and its folder can be written."""

from __future__ import annotations

import os
from pathlib import Path

from pairsearch.errors import PairsearchError


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
