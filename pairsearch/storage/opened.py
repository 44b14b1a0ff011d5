"""The storages this process opened: one object per storage and mode, closed (and at rest) at exit.

:class:`pairsearch.storage.handle.StorageHandle` is the one way in; how each kind opens is its
:class:`pairsearch.storage.kinds.StorageKind`'s.
"""

from __future__ import annotations

import atexit
import functools
import os
from pathlib import Path
from typing import Protocol

import optuna

from pairsearch.storage.sqlite_files import rest_in_one_file


class StorageHandle(Protocol):
    """What this module reads of :class:`pairsearch.storage.handle.StorageHandle` (no import cycle)."""

    kind: object
    file_path: Path | None


_OPENED: dict[str, optuna.storages.BaseStorage] = {}
_READ_ONLY: set[str] = set()  # the keys of _OPENED opened read-only
_AT_REST_WHEN_CLOSED: dict[str, Path] = {}  # the keys of _OPENED that write a file brought to rest at close
_IDENTITY: dict[str, tuple[int, int] | None] = {}  # those files' (device, inode) once opened


def open_once(*, handle: StorageHandle, key: str, readonly: bool, schema_ready: bool = False) -> optuna.storages.BaseStorage:
    """One storage object per process, storage and mode: a second open would cost a new engine.

    ``schema_ready``: a worker's parent opened this storage in full, so the worker skips
    making Optuna's tables and checking their version.
    """
    kind = handle.kind
    if readonly and kind.rests_in_one_file:
        written = _written_file(handle.file_path.resolve())
        if written is not None:
            return written
    if key not in _OPENED:
        if readonly:
            _OPENED[key] = kind.open_reader(handle)
            _READ_ONLY.add(key)
        else:
            _OPENED[key] = kind.open_writer(handle, schema_ready=schema_ready)
            if kind.rests_in_one_file:
                _AT_REST_WHEN_CLOSED[key] = handle.file_path.resolve()
                _IDENTITY[key] = _identity(_AT_REST_WHEN_CLOSED[key])
        _close_all_at_exit()
    return _OPENED[key]


def _written_file(path: Path) -> optuna.storages.BaseStorage | None:
    """This process's read-write storage of the SQLite file at ``path``, if it opened one.

    A process that has written a file reads it through the same storage: a second, ``mode=ro``
    connection opened after the read-write one has been used made other processes' later
    writes vanish (measured: workers' trials invisible to the parent, and gone after it ended).
    """
    for key, written in _AT_REST_WHEN_CLOSED.items():
        if written == path:
            return _OPENED[key]
    return None


def close_all() -> None:
    """Close every storage this process opened (read-only ones first); leave SQLite files at rest.

    Without this a command's whole run stays in ``NAME.db-wal`` beside the file: correct for
    SQLite, but a copy of ``NAME.db`` alone (a commit, a backup) would hold none of it. Worker
    processes end without closing (``os._exit``); the command that started them closes last.
    """
    for key in sorted(_OPENED, key=lambda key: key not in _READ_ONLY):
        engine = getattr(_OPENED.pop(key), "engine", None)
        if engine is not None:
            engine.dispose()
        if key in _AT_REST_WHEN_CLOSED:
            path = _AT_REST_WHEN_CLOSED.pop(key)
            if _identity(path) == _IDENTITY.pop(key, None):  # a file put there since is not ours to touch
                rest_in_one_file(path)
    _READ_ONLY.clear()


def _identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode), or None when there is none (``os.stat``: no descriptor opened)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


@functools.cache
def _close_all_at_exit() -> None:
    atexit.register(close_all)
