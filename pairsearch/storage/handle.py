"""The storage handle: one object built from the URL — its kind, its redacted text, opening, the lock.

What each kind can do is :mod:`pairsearch.storage.kinds`; this module is what the rest of
pairsearch uses, and it asks the kind, never its name.

Supported: ``sqlite:///path.db`` (default, one machine), ``postgresql+psycopg://…`` (many
machines), ``journal:PATH`` or a bare ``*.log`` path (Optuna journal file), and
``grpc://host:port`` (Optuna's gRPC storage proxy, see ``pairsearch storage-proxy``).
Passwords never leave this module: every text shown to a user is :attr:`StorageHandle.redacted`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import optuna

from pairsearch.defaults import STORAGE_ENV, STORAGE_URL
from pairsearch.errors import PairsearchError
from pairsearch.redaction import redact
from pairsearch.storage import files, opened
from pairsearch.storage.failures import describe_error
from pairsearch.storage.kinds import StorageKind, kind_named, kind_of

__all__ = ["StorageHandle", "kind_of"]

HEARTBEAT_ENV = "PAIRSEARCH_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 10
MAX_HEARTBEAT_SECONDS = 3600
OUTAGE_ENV = "PAIRSEARCH_STORAGE_OUTAGE_SECONDS"
DEFAULT_OUTAGE_SECONDS = 600
MAX_OUTAGE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class StorageHandle:
    """A storage named by a URL. Picklable: it crosses to worker processes as it is.

    Attributes:
        url: The URL as given (it may hold a password: never show it, show :attr:`redacted`).
        kind: What the storage is and can do; read from ``url`` when not given (a kind's name,
            such as ``"sqlite"``, is taken too).
        heartbeat_seconds: The RDB heartbeat interval workers use (grace period: three times it).
        outage_seconds: How long workers wait out a storage that went away.
        run_file: The storage file a run's workers write (:meth:`for_run`); None: not watched.
    """

    url: str
    kind: StorageKind | None = None
    heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS
    outage_seconds: float = DEFAULT_OUTAGE_SECONDS
    run_file: FileIdentity | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, StorageKind):
            kind = kind_of(self.url) if self.kind is None else kind_named(self.kind)
            object.__setattr__(self, "kind", kind)

    @classmethod
    def resolve(cls, *, url: str | None) -> StorageHandle:
        """``--storage`` if given, else ``$PAIRSEARCH_STORAGE``, else the local SQLite file.

        The environment's storage settings (``$PAIRSEARCH_HEARTBEAT_SECONDS``,
        ``$PAIRSEARCH_STORAGE_OUTAGE_SECONDS``) are checked here, once, and travel with the handle
        to every worker process. A file path the file system or the URL parser would not take
        as named is refused here, before anything is opened.
        """
        chosen = url or os.environ.get(STORAGE_ENV) or STORAGE_URL
        if "\x00" in chosen:
            raise PairsearchError(f"storage {redact(chosen)!a} holds a NUL byte, which no file or server name can")
        handle = cls(url=chosen, kind=kind_of(chosen), heartbeat_seconds=heartbeat_seconds(),
                     outage_seconds=outage_seconds())
        if handle.file_path is not None:
            handle.check_file_path()
        if "@" in chosen.partition("://")[2].rpartition("@")[0]:
            raise PairsearchError(
                f"the storage URL's user or password holds a raw '@' ({handle.redacted}): "
                "write it as %40, as in any URL"
            )
        return handle

    def check_file_path(self) -> None:
        """Refuse a file path that names no shareable file, or that would be read as another."""
        path = self.file_path
        if str(path) in ("", ".", ":memory:"):
            raise PairsearchError(
                f"storage {self.redacted!r} names no file that workers could share; "
                "give a path, e.g. sqlite:///storage/pairsearch.db"
            )
        self.kind.check_path(path)
        files.check_name_lengths(path)

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***``."""
        return redact(self.url)

    @property
    def kind_name(self) -> str:
        """The kind's label, for people (``sqlite``, ``postgresql``, ``journal``, ``grpc``)."""
        return self.kind.name

    @property
    def file_path(self) -> Path | None:
        """The database or journal file, for the kinds that are one file; else None."""
        return None if self.kind.path_of is None else self.kind.path_of(self.url)

    @property
    def has_lock(self) -> bool:
        """Whether :meth:`lock` serialises processes (gRPC has no shared lock)."""
        return self.kind.has_lock

    @property
    def has_heartbeat(self) -> bool:
        """Only RDB storages run heartbeats: elsewhere a killed worker's trial stays RUNNING."""
        return self.kind.has_heartbeat

    def open(
        self, *, must_exist: bool = False, readonly: bool = False, schema_ready: bool = False
    ) -> optuna.storages.BaseStorage:
        """The Optuna storage, opened once per process (and mode).

        Args:
            must_exist: Refuse a missing SQLite/journal file instead of creating it.
            readonly: For commands that only read. The storage must exist and hold Optuna's
                schema, and opening and reading it change nothing: no schema, no journal-mode
                switch, no lock file (SQLite opened ``mode=ro``, PostgreSQL sessions read-only).
            schema_ready: For worker processes: the command that started them opened this
                storage in full (Optuna's tables made, their version checked), so skip both.
        """
        path = self.file_path
        if path is not None:
            files.refuse_a_folder(path=path)
        if (must_exist or readonly) and path is not None and not path.is_file():
            raise PairsearchError(f"no storage at {path}: run 'pairsearch tune' first, or check --storage")
        key = f"{path.resolve() if path is not None else self.url} {self.heartbeat_seconds} {readonly}"
        try:
            return opened.open_once(handle=self, key=key, readonly=readonly, schema_ready=schema_ready)
        except PairsearchError:
            raise
        except Exception as error:  # noqa: BLE001 -- SQLAlchemy/psycopg/OS errors: one line, no password
            cause = (path is not None and files.unreadable_log(path)) or describe_error(error)
            raise PairsearchError(f"cannot open storage {self.redacted}: {cause}") from None

    def check_writable(self) -> None:
        """Refuse, before any write or lock file, a storage this process cannot or may not write:
        a file or folder it cannot write, a folder named as the file, or another application's data."""
        path = self.file_path
        if path is not None:
            files.refuse_a_folder(path=path)
        try:
            self.kind.refuse_foreign(self)
        except PairsearchError:
            raise
        except Exception as error:  # noqa: BLE001 -- SQLAlchemy/psycopg/OS errors: one line, no password
            raise PairsearchError(f"cannot open storage {self.redacted}: {describe_error(error)}") from None
        if path is not None:  # a database server refuses a write itself, in one line
            files.check_writable_beside(path=path, redacted=self.redacted)

    def file_identity(self) -> FileIdentity | None:
        """The storage file's identity now, with its SQLite side files'; None for a server or a missing file."""
        path = self.file_path
        if path is None or not path.exists():
            return None
        sides = {side: identity for side in _side_files(path) if (identity := _inode(side)) is not None}
        return FileIdentity(inode=_inode(path), sides=sides)

    def for_run(self) -> StorageHandle:
        """This handle, for workers that must write the file as it is now and no other (:meth:`lost`)."""
        return replace(self, run_file=self.file_identity())

    def lost(self) -> bool:
        """Whether the file of :meth:`for_run` was deleted or replaced: a failure then is no outage to wait out."""
        return self.run_file is not None and _inode(self.file_path) != self.run_file.inode

    def check_still_there(self, *, identity: FileIdentity | None, what: str) -> None:
        """Refuse to call a run done whose storage file was deleted or replaced while it ran.

        The run's own write-ahead log and index beside it are removed then (when they are still
        the ones it wrote): SQLite would read them into the next file of that name — a backup
        put back, or the file that replaced it — and change it.

        Args:
            identity: :meth:`file_identity` when the run started.
            what: What the run wrote there, for the message (``the trials of this run``).
        """
        path = self.file_path
        if identity is None or _inode(path) == identity.inode:
            return
        for side, inode in identity.sides.items():
            if _inode(side) == inode:
                with contextlib.suppress(OSError):
                    side.unlink()
        how = "deleted" if not path.exists() else "replaced by another file"
        raise PairsearchError(
            f"the storage file {path} was {how} while this command ran: "
            f"{what} are not in it (lost); restore the file from a backup, or run the command again")

    @contextlib.contextmanager
    def lock(self, *, study_name: str) -> Iterator[None]:
        """Hold the study's lock: serialises "count the trials, then create one" across hosts.

        A Postgres advisory lock, or a file lock beside an SQLite/journal file. gRPC has no
        shared lock; its workers re-check the order after creating a trial.
        """
        with self.kind.lock(handle=self, study_name=study_name):
            yield


@dataclass(frozen=True)
class FileIdentity:
    """Which file a storage path named: its (device, inode), and its side files' (SQLite's log and index)."""

    inode: tuple[int, int] | None
    sides: dict[Path, tuple[int, int]]


def _side_files(path: Path) -> list[Path]:
    return [path.with_name(f"{path.name}{suffix}") for suffix in ("-wal", "-shm")]


def _inode(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` by ``os.stat`` (no descriptor of an SQLite file is ever opened here); None if absent."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def outage_seconds() -> float:
    """``$PAIRSEARCH_STORAGE_OUTAGE_SECONDS``, checked: how long workers wait out a lost storage."""
    raw = os.environ.get(OUTAGE_ENV, str(DEFAULT_OUTAGE_SECONDS))
    try:
        value = float(raw) if raw.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_OUTAGE_SECONDS:
        raise PairsearchError(f"{OUTAGE_ENV} must be a number of seconds from 0 to {MAX_OUTAGE_SECONDS}, got {raw!r}")
    return value


def heartbeat_seconds() -> int:
    """``$PAIRSEARCH_HEARTBEAT_SECONDS``, checked: whole seconds from 1 to an hour.

    Longer would leave a killed worker's trial RUNNING for hours before anyone retries it.
    """
    raw = os.environ.get(HEARTBEAT_ENV, str(DEFAULT_HEARTBEAT_SECONDS))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_HEARTBEAT_SECONDS:
        raise PairsearchError(
            f"{HEARTBEAT_ENV} must be a whole number of seconds from 1 to {MAX_HEARTBEAT_SECONDS}, got {raw!r}"
        )
    return int(raw)
