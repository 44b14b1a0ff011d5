"""The storage handle: one object built from the URL — its kind, its redacted text, opening, the lock.

How each kind is opened and locked is :mod:`pairsearch.storage.backends`; this module is what the rest of
pairsearch uses.

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
from dataclasses import dataclass
from pathlib import Path

import optuna

from pairsearch.defaults import STORAGE_ENV, STORAGE_URL
from pairsearch.errors import PairsearchError
from pairsearch.redaction import redact
from pairsearch.storage import backends
from pairsearch.storage.failures import describe_error

HEARTBEAT_ENV = "PAIRSEARCH_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 10
MAX_HEARTBEAT_SECONDS = 3600
OUTAGE_ENV = "PAIRSEARCH_STORAGE_OUTAGE_SECONDS"
DEFAULT_OUTAGE_SECONDS = 600
MAX_OUTAGE_SECONDS = 7 * 24 * 3600
SUPPORTED = "sqlite:///PATH, postgresql+psycopg://USER:PASS@HOST/DB, journal:PATH, grpc://HOST:PORT"


@dataclass(frozen=True)
class StorageHandle:
    """A storage named by a URL. Picklable: it crosses to worker processes as it is.

    Attributes:
        url: The URL as given (it may hold a password: never show it, show :attr:`redacted`).
        kind: ``sqlite``, ``postgresql``, ``journal`` or ``grpc``.
        heartbeat_seconds: The RDB heartbeat interval workers use (grace period: three times it).
    """

    url: str
    kind: str
    heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS
    outage_seconds: float = DEFAULT_OUTAGE_SECONDS

    @classmethod
    def resolve(cls, *, url: str | None) -> StorageHandle:
        """``--storage`` if given, else ``$PAIRSEARCH_STORAGE``, else the local SQLite file.

        The environment's storage settings (``$PAIRSEARCH_HEARTBEAT_SECONDS``,
        ``$PAIRSEARCH_STORAGE_OUTAGE_SECONDS``) are checked here, once, and travel with the handle
        to every worker process.
        """
        chosen = url or os.environ.get(STORAGE_ENV) or STORAGE_URL
        if "\x00" in chosen:
            raise PairsearchError(f"storage {redact(chosen)!a} holds a NUL byte, which no file or server name can")
        handle = cls(url=chosen, kind=kind_of(chosen), heartbeat_seconds=heartbeat_seconds(),
                     outage_seconds=outage_seconds())
        if handle.file_path is not None and str(handle.file_path) in ("", ".", ":memory:"):
            raise PairsearchError(
                f"storage {handle.redacted!r} names no file that workers could share; "
                "give a path, e.g. sqlite:///storage/pairsearch.db"
            )
        if "@" in chosen.partition("://")[2].rpartition("@")[0]:
            raise PairsearchError(
                f"the storage URL's user or password holds a raw '@' ({handle.redacted}): "
                "write it as %40, as in any URL"
            )
        return handle

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by ``***``."""
        return redact(self.url)

    @property
    def file_path(self) -> Path | None:
        """The database or journal file, for the kinds that are one file; else None."""
        if self.kind == "sqlite":
            return Path(self.url.removeprefix("sqlite:///"))
        if self.kind == "journal":
            return Path(self.url.removeprefix("journal:").removeprefix("//"))
        return None

    @property
    def has_lock(self) -> bool:
        """Whether :meth:`lock` serialises processes (gRPC has no shared lock)."""
        return self.kind != "grpc"

    @property
    def has_heartbeat(self) -> bool:
        """Only RDB storages run heartbeats: elsewhere a killed worker's trial stays RUNNING."""
        return self.kind in ("sqlite", "postgresql")

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
        if (must_exist or readonly) and path is not None and not path.is_file():
            raise PairsearchError(f"no storage at {path}: run 'pairsearch tune' first, or check --storage")
        key = f"{path.resolve() if path is not None else self.url} {self.heartbeat_seconds} {readonly}"
        try:
            return backends.open_once(handle=self, key=key, readonly=readonly, schema_ready=schema_ready)
        except PairsearchError:
            raise
        except Exception as error:  # noqa: BLE001 -- SQLAlchemy/psycopg/OS errors: one line, no password
            raise PairsearchError(f"cannot open storage {self.redacted}: {describe_error(error)}") from None

    def check_writable(self) -> None:
        """Refuse, before any write or lock file, a storage this process cannot or may not write:
        a file or folder it cannot write, or another application's database."""
        if self.kind in ("sqlite", "postgresql"):
            try:
                backends.refuse_foreign_database(self)
            except PairsearchError:
                raise
            except Exception as error:  # noqa: BLE001 -- SQLAlchemy/psycopg/OS errors: one line, no password
                raise PairsearchError(f"cannot open storage {self.redacted}: {describe_error(error)}") from None
        path = self.file_path
        if path is None:
            return  # a database server refuses a write itself, in one line
        folder = path.resolve().parent
        while not folder.exists():  # a new folder is made where the nearest existing one allows it
            folder = folder.parent
        if not _can_write(folder):
            raise PairsearchError(
                f"cannot write beside {path}: {_why_not_writable(folder)} "
                "(the storage's folder must be writable: it holds the study lock files)"
            )
        if path.exists() and not _can_write(path):
            raise PairsearchError(f"cannot write to {self.redacted}: a readonly database here ({_why_not_writable(path)})")

    def file_identity(self) -> tuple[int, int] | None:
        """The storage file's (device, inode) now; None for a server or a missing file."""
        path = self.file_path
        if path is None or not path.exists():
            return None
        stat = path.stat()
        return stat.st_dev, stat.st_ino

    def check_still_there(self, *, identity: tuple[int, int] | None, what: str) -> None:
        """Refuse to call a run done whose storage file was deleted or replaced while it ran.

        Args:
            identity: :meth:`file_identity` when the run started.
            what: What the run wrote there, for the message (``the trials of this run``).
        """
        if identity is not None and self.file_identity() != identity:
            raise PairsearchError(
                f"the storage file {self.file_path} was deleted or replaced while this command ran: "
                f"{what} are not in it (lost); restore the file from a backup, or run the command again")

    @contextlib.contextmanager
    def lock(self, *, study_name: str) -> Iterator[None]:
        """Hold the study's lock: serialises "count the trials, then create one" across hosts.

        A Postgres advisory lock, or a file lock beside an SQLite/journal file. gRPC has no
        shared lock; its workers re-check the order after creating a trial.
        """
        if self.kind == "postgresql":
            with backends.advisory_lock(url=self.url, study_name=study_name):
                yield
        elif self.file_path is not None:
            with backends.file_lock(path=Path(f"{self.file_path}.{backends.safe_name(study_name)}.lock")):
                yield
        else:
            yield


def _can_write(path: Path) -> bool:
    return os.access(path, os.W_OK)  # also False for chattr +i and read-only mounts, even for root


def _why_not_writable(path: Path) -> str:
    return "Read-only file system" if os.statvfs(path).f_flag & os.ST_RDONLY else "Permission denied"


def kind_of(url: str) -> str:
    """One of ``sqlite``, ``postgresql``, ``journal``, ``grpc``; unsupported URLs are refused."""
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return "postgresql"
    if url.startswith("journal:") or (url.endswith(".log") and "://" not in url):
        return "journal"
    if url.startswith("grpc://"):
        return "grpc"
    raise PairsearchError(f"unsupported storage URL {redact(url)!r}; use one of: {SUPPORTED}")


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
