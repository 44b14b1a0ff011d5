"""Each kind of storage in one place: how its URL reads, how it opens, locks and comes to rest.

Callers never compare kind names: they ask a kind (or the handle) what it can do —
``has_lock``, ``has_heartbeat``, ``rests_in_one_file`` — and :attr:`StorageKind.name` is only a
label for people.

Outages are told apart by the error, whatever the kind (:mod:`pairsearch.storage.failures`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pairsearch.errors import PairsearchError
from pairsearch.redaction import redact
from pairsearch.storage import grpc_client, journal, locks, postgres, rdb, sqlite_files

SUPPORTED = "sqlite:///PATH, postgresql+psycopg://USER:PASS@HOST/DB, journal:PATH, grpc://HOST:PORT"


def _no_check(_) -> None:
    """Nothing to refuse."""


@dataclass(frozen=True, eq=False)
class StorageKind:
    """What one kind of storage is and can do. One object per kind: compare with ``is``.

    Attributes:
        name: A label for people (``sqlite``, ``postgresql``, ``journal``, ``grpc``).
        matches: Whether a URL names this kind.
        path_of: The one file a URL names, for the kinds that are a file on this host; else None.
        check_path: Refuses a file path this kind would misread (called when the handle is built).
        open_writer: ``(handle, *, schema_ready)`` → the Optuna storage, for writing.
        open_reader: ``(handle)`` → the Optuna storage, changing nothing by opening or reading it.
        refuse_foreign: ``(handle)``: refuses, before any write, another application's data.
        table_names: ``(handle)`` → the database's table names, for the RDB kinds; else None.
        lock: ``(*, handle, study_name)`` → the study lock's context manager.
        has_heartbeat: Whether workers' trials beat (a killed worker's trial is then retried).
        rests_in_one_file: Whether a writer's storage is folded into one file when closed, and a
            process that wrote it reads it through the same storage (SQLite in WAL mode).
        is_proxy: Whether it is a client of a proxy in front of a real storage (a proxy cannot
            serve another proxy).
    """

    name: str
    matches: Callable[[str], bool]
    path_of: Callable[[str], Path] | None
    open_writer: Callable
    open_reader: Callable
    lock: Callable
    has_heartbeat: bool
    check_path: Callable[[Path], None] = _no_check
    refuse_foreign: Callable = _no_check
    table_names: Callable | None = None
    rests_in_one_file: bool = False
    is_proxy: bool = False

    @property
    def has_lock(self) -> bool:
        """Whether its study lock serialises processes (gRPC has no shared lock)."""
        return self.lock is not locks.no_lock

    def __reduce__(self):
        return kind_named, (self.name,)  # the same object in a worker process


SQLITE = StorageKind(
    name="sqlite", matches=lambda url: url.startswith("sqlite:///"), path_of=sqlite_files.path_of,
    check_path=sqlite_files.check_path, open_writer=sqlite_files.open_writer, open_reader=sqlite_files.open_reader,
    refuse_foreign=rdb.refuse_foreign_database, table_names=sqlite_files.table_names,
    lock=locks.file_lock_beside, has_heartbeat=True, rests_in_one_file=True,
)
POSTGRESQL = StorageKind(
    name="postgresql", matches=lambda url: url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")),
    path_of=None, open_writer=postgres.open_writer, open_reader=postgres.open_reader,
    refuse_foreign=rdb.refuse_foreign_database, table_names=postgres.table_names,
    lock=locks.advisory_lock_of, has_heartbeat=True,
)
JOURNAL = StorageKind(
    name="journal", matches=journal.is_journal_url, path_of=journal.path_of,
    open_writer=journal.open_storage, open_reader=journal.open_storage, refuse_foreign=journal.refuse_foreign_file,
    lock=locks.file_lock_beside, has_heartbeat=False,
)
GRPC = StorageKind(
    name="grpc", matches=lambda url: url.startswith(grpc_client.GRPC_PREFIX), path_of=None,
    open_writer=grpc_client.open_storage, open_reader=grpc_client.open_storage,
    lock=locks.no_lock, has_heartbeat=False, is_proxy=True,
)
KINDS = (SQLITE, POSTGRESQL, JOURNAL, GRPC)


def kind_of(url: str) -> StorageKind:
    """The kind a URL names; unsupported URLs are refused."""
    for kind in KINDS:
        if kind.matches(url):
            return kind
    raise PairsearchError(f"unsupported storage URL {redact(url)!r}; use one of: {SUPPORTED}")


def kind_named(name: str) -> StorageKind:
    """The kind labelled ``name``."""
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise PairsearchError(f"unknown storage kind {name!r}; one of: {', '.join(kind.name for kind in KINDS)}")
