"""Optuna journal-file storages (``journal:PATH`` or a bare ``*.log`` path)."""

from __future__ import annotations

from pathlib import Path

import optuna

JOURNAL_PREFIX = "journal:"


def is_journal_url(url: str) -> bool:
    """``journal:PATH``, or a bare path ending in ``.log``."""
    return url.startswith(JOURNAL_PREFIX) or (url.endswith(".log") and "://" not in url)


def path_of(url: str) -> Path:
    """The file of a journal URL."""
    return Path(url.removeprefix(JOURNAL_PREFIX).removeprefix("//"))


def open_storage(handle, *, schema_ready: bool = False) -> optuna.storages.JournalStorage:
    """The journal file, for reading or writing; its folder is made if missing."""
    from optuna.storages.journal import JournalFileBackend

    handle.file_path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(handle.file_path)))
