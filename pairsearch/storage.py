"""The storage handle: one object built from the URL — its kind, its redacted text, opening, the lock.

Supported: ``sqlite:///path.db`` (default, one machine), ``postgresql+psycopg://…`` (many
machines), ``journal:PATH`` or a bare ``*.log`` path (Optuna journal file), and
``grpc://host:port`` (Optuna's gRPC storage proxy, see ``pairsearch storage-proxy``).
Passwords never leave this module: every text shown to a user is :attr:`StorageHandle.redacted`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from pairsearch.defaults import STORAGE_ENV, STORAGE_URL
from pairsearch.errors import PairsearchError
from pairsearch.redaction import redact
from pairsearch.storage_errors import describe_error

HEARTBEAT_ENV = "PAIRSEARCH_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 10
MAX_HEARTBEAT_SECONDS = 3600
OUTAGE_ENV = "PAIRSEARCH_STORAGE_OUTAGE_SECONDS"
DEFAULT_OUTAGE_SECONDS = 600
MAX_OUTAGE_SECONDS = 7 * 24 * 3600
MAX_RETRY = 3
LOCK_TIMEOUT_SECONDS = 600
OPTUNA_TABLES = {"studies", "trials", "version_info"}
SUPPORTED = "sqlite:///PATH, postgresql+psycopg://USER:PASS@HOST/DB, journal:PATH, grpc://HOST:PORT"


class NoOptunaSchema(PairsearchError):
    """A database without Optuna's tables: refused by readers (``tune`` may create them)."""


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
    def has_heartbeat(self) -> bool:
        """Only RDB storages run heartbeats: elsewhere a killed worker's trial stays RUNNING."""
        return self.kind in ("sqlite", "postgresql")

    def open(self, *, must_exist: bool = False, readonly: bool = False) -> optuna.storages.BaseStorage:
        """The Optuna storage, opened once per process (and mode).

        Args:
            must_exist: Refuse a missing SQLite/journal file instead of creating it.
            readonly: For commands that only read. The storage must exist and hold Optuna's
                schema, and opening and reading it change nothing: no schema, no journal-mode
                switch, no lock file (SQLite opened ``mode=ro``, PostgreSQL sessions read-only).
        """
        path = self.file_path
        if (must_exist or readonly) and path is not None and not path.is_file():
            raise PairsearchError(f"no storage at {path}: run 'pairsearch tune' first, or check --storage")
        key = f"{path.resolve() if path is not None else self.url} {self.heartbeat_seconds} {readonly}"
        try:
            return _open_once(handle=self, key=key, readonly=readonly)
        except PairsearchError:
            raise
        except Exception as error:  # SQLAlchemy/psycopg/OS errors: one line, no password
            raise PairsearchError(f"cannot open storage {self.redacted}: {describe_error(error)}") from None

    def check_writable(self) -> None:
        """Refuse, before any write or lock file, a storage file or folder this process cannot write."""
        path = self.file_path
        if path is None:
            return  # a database server refuses a write itself, in one line
        folder = path.resolve().parent
        if not _can_write(folder):
            raise PairsearchError(
                f"cannot write beside {path}: {_why_not_writable(folder)} "
                "(the storage's folder must be writable: it holds the study lock files)"
            )
        if path.exists() and not _can_write(path):
            raise PairsearchError(f"cannot write to {self.redacted}: a readonly database here ({_why_not_writable(path)})")

    @contextlib.contextmanager
    def lock(self, *, study_name: str) -> Iterator[None]:
        """Hold the study's lock: serialises "count the trials, then create one" across hosts.

        A Postgres advisory lock, or a file lock beside an SQLite/journal file. gRPC has no
        shared lock; its workers re-check the order after creating a trial.
        """
        if self.kind == "postgresql":
            with _advisory_lock(url=self.url, study_name=study_name):
                yield
        elif self.file_path is not None:
            with _file_lock(path=Path(f"{self.file_path}.{_safe_name(study_name)}.lock")):
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


def psycopg_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` spelled with the psycopg 3 driver SQLAlchemy needs."""
    return url.replace("postgres://", "postgresql+psycopg://", 1).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


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


# --- opening ---------------------------------------------------------------------------------


_OPENED: dict[str, optuna.storages.BaseStorage] = {}


def _open_once(*, handle: StorageHandle, key: str, readonly: bool) -> optuna.storages.BaseStorage:
    """One storage object per process, storage and mode: a second open would cost a new engine."""
    if key not in _OPENED:
        if handle.kind == "journal":
            _OPENED[key] = _journal_storage(handle.file_path)
        elif handle.kind == "grpc":
            _OPENED[key] = _grpc_storage(handle)
        elif readonly:
            _OPENED[key] = _rdb_storage_readonly(handle)
        else:
            _OPENED[key] = _with_schema_retry(lambda: _rdb_storage(handle))
    return _OPENED[key]


def _with_schema_retry(open_once, attempts: int = 5):
    """Workers starting together on a fresh database race to create Optuna's tables; retry."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return open_once()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)


def _rdb_storage(handle: StorageHandle) -> RDBStorage:
    url = handle.url
    if handle.kind == "sqlite":
        handle.file_path.parent.mkdir(parents=True, exist_ok=True)
        # A busy timeout so parallel local workers wait for the write lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        url = psycopg_url(url)
        # Small pools: at most 2 connections per worker process (plus one for the study lock),
        # so about 30 worker processes fit in a server's default 100 connections.
        engine_kwargs = {
            "pool_size": 1, "max_overflow": 1, "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 10},
        }
    interval = handle.heartbeat_seconds
    with warnings.catch_warnings():  # heartbeats are marked experimental but are the documented way
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=3 * interval,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )
    if handle.kind == "sqlite":
        _use_write_ahead_log(storage.engine)
    return storage


def _rdb_storage_readonly(handle: StorageHandle) -> RDBStorage:
    """An RDB storage that cannot write, refused unless it holds Optuna's schema."""
    if handle.kind == "sqlite":
        path = handle.file_path.resolve()
        with open(path, "rb") as head:
            if head.read(16) != b"SQLite format 3\x00":
                raise PairsearchError(f"{handle.redacted} is not an SQLite database (nor an Optuna storage)")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        url = psycopg_url(handle.url)
        engine_kwargs = {
            "pool_size": 1, "max_overflow": 1, "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 10, "options": "-c default_transaction_read_only=on"},
        }
    _require_optuna_schema(handle=handle, url=url, engine_kwargs=engine_kwargs)
    return RDBStorage(url, engine_kwargs=engine_kwargs, skip_table_creation=True)


def _require_optuna_schema(*, handle: StorageHandle, url: str, engine_kwargs: dict) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if not OPTUNA_TABLES <= tables:
        raise NoOptunaSchema(
            f"{handle.redacted} holds no Optuna storage (its tables are missing); "
            "check --storage, or run 'pairsearch tune' to start one"
        )


def _use_write_ahead_log(engine) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: a commit costs ~0.01 ms instead of ~16 ms.

    A trial commits ~20 times plus twice per epoch (bench/RESULTS.md). NORMAL may lose the last
    commits on a power cut but never corrupts the file; WAL needs a local (not network) disk.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, connection_record) -> None:
        import sqlite3

        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass  # a read-only file keeps its mode; the first write then says "readonly database"
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # connections opened before the listener existed are replaced


def _journal_storage(path: Path) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def grpc_address(handle: StorageHandle) -> tuple[str, int]:
    """``(host, port)`` of a ``grpc://HOST:PORT`` URL."""
    host, _, port = handle.url.removeprefix("grpc://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise PairsearchError(f"grpc storage URL must look like grpc://HOST:PORT, got {handle.redacted!r}")
    return host, int(port)


def _grpc_storage(handle: StorageHandle) -> optuna.storages.BaseStorage:
    host, port = grpc_address(handle)
    try:
        from optuna.storages import GrpcStorageProxy
    except ImportError:
        raise PairsearchError("grpc storage needs grpcio and protobuf: pip install 'pairsearch[grpc]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = GrpcStorageProxy(host=host, port=port)
    proxy.wait_server_ready(timeout=10)
    return proxy


def serve_grpc_proxy(*, handle: StorageHandle, host: str, port: int, announce) -> None:
    """Block serving ``handle``'s storage to gRPC clients (``grpc://host:port``) until Ctrl-C."""
    try:
        from optuna.storages import run_grpc_proxy_server
    except ImportError:
        raise PairsearchError("storage-proxy needs grpcio and protobuf: pip install 'pairsearch[grpc]'") from None
    if handle.kind == "grpc":
        raise PairsearchError("storage-proxy needs the real storage behind it, not another grpc:// proxy")
    storage = handle.open()
    announce(f"gRPC storage proxy for {handle.redacted} on grpc://{host}:{port} (Ctrl-C stops)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        run_grpc_proxy_server(storage, host=host, port=port)


# --- the study lock --------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(*, path: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except Timeout:
        raise
    except OSError as error:  # a read-only folder or a full disk: say so, no traceback
        raise PairsearchError(
            f"cannot take the study lock {path}: {error.strerror or error} "
            "(the storage's folder must be writable)"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _advisory_lock(*, url: str, study_name: str) -> Iterator[None]:
    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
    with _lock_engine(url).connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


@functools.cache
def _lock_engine(url: str):
    """One kept connection per process for the advisory lock (a new one costs ~10 ms a trial)."""
    import sqlalchemy

    return sqlalchemy.create_engine(
        psycopg_url(url), pool_size=1, max_overflow=1, pool_pre_ping=True, connect_args={"connect_timeout": 10}
    )


def _safe_name(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]
