"""Optuna journal-file storages (``journal:PATH`` or a bare ``*.log`` path)."""

from __future__ import annotations

from pathlib import Path

import optuna

from pairsearch.errors import PairsearchError
from pairsearch.storage.sqlite_files import is_sqlite_database

JOURNAL_PREFIX = "journal:"
FIRST_LOG_LINE_START = b'{"op_code"'  # every log line is a JSON object whose first key is op_code


def is_journal_url(url: str) -> bool:
    """``journal:PATH``, or a bare path ending in ``.log``."""
    return url.startswith(JOURNAL_PREFIX) or (url.endswith(".log") and "://" not in url)


def path_of(url: str) -> Path:
    """The file of a journal URL."""
    return Path(url.removeprefix(JOURNAL_PREFIX).removeprefix("//"))


def refuse_foreign_file(handle) -> None:
    """Refuse a file named as a journal that is not one: Optuna would append its log lines to it."""
    path = handle.file_path
    if is_sqlite_database(path):  # checked through SQLite before this process opens it with open()
        raise PairsearchError(
            f"cannot open storage {handle.redacted}: it is an SQLite database, not an Optuna journal file "
            f"(for it, use --storage sqlite:///{path})")
    if path.is_file() and not _starts_as_a_journal(path):
        raise PairsearchError(f"cannot open storage {handle.redacted}: it is not an Optuna journal file "
                              "(its first line is no Optuna log line); check --storage")


def _starts_as_a_journal(path: Path) -> bool:
    """Whether the file is empty or begins as Optuna's first log line does (perhaps still being written)."""
    with path.open("rb") as journal:
        head = journal.read(len(FIRST_LOG_LINE_START))
    return head.startswith(FIRST_LOG_LINE_START) or FIRST_LOG_LINE_START.startswith(head)


def open_storage(handle, *, schema_ready: bool = False) -> optuna.storages.JournalStorage:
    """The journal file, for reading or writing; its folder is made if missing."""
    from optuna.storages.journal import JournalFileBackend

    refuse_foreign_file(handle)
    handle.file_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.JournalStorage(JournalFileBackend(str(handle.file_path)))
    except (UnicodeDecodeError, ValueError):  # its lines are not Optuna's JSON log lines
        raise PairsearchError(f"cannot open storage {handle.redacted}: it is not an Optuna journal file "
                              "(its lines are not Optuna's JSON log); check --storage") from None
