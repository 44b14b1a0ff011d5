"""How each kind of storage opens and locks: RDB (read-write or read-only), journal file, gRPC proxy.

:class:`pairsearch.storage.handle.StorageHandle` is the one way in; these functions take a handle.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from pairsearch.errors import PairsearchError
from pairsearch.storage.failures import NoOptunaSchema
from pairsearch.storage.heartbeats import SteadyHeartbeatRDBStorage

MAX_RETRY = 3
LOCK_TIMEOUT_SECONDS = 600
# A study lock is held for the milliseconds it takes to sweep, count and create one trial. A
# holder that stops (a host gone, a stopped process) loses it after this long, or every worker
# on every host would wait for it until the server noticed the dead connection (hours).
LOCK_HOLD_LIMIT_SECONDS = 60
# Every PostgreSQL connection: give up connecting after 10 s, and notice a server that went
# away without closing the connection (a host or network gone) in about 1 min, not 2 h.
POSTGRES_CONNECT_ARGS = {"connect_timeout": 10, "keepalives_idle": 30, "keepalives_interval": 10,
                         "keepalives_count": 3}
OPTUNA_TABLES = {"studies", "trials", "version_info"}


class StorageHandle(Protocol):
    """What these functions read of :class:`pairsearch.storage.handle.StorageHandle` (no import cycle)."""

    kind: str
    url: str
    redacted: str
    file_path: Path
    heartbeat_seconds: int | None


_OPENED: dict[str, optuna.storages.BaseStorage] = {}
_READ_ONLY: set[str] = set()  # the keys of _OPENED opened read-only
_SQLITE_WRITTEN: dict[str, Path] = {}  # the keys of _OPENED opened for writing an SQLite file


def open_once(*, handle: StorageHandle, key: str, readonly: bool, schema_ready: bool = False) -> optuna.storages.BaseStorage:
    """One storage object per process, storage and mode: a second open would cost a new engine.

    ``schema_ready``: a worker's parent opened this storage in full (tables made, schema
    version checked), so the worker skips both (Optuna's version check imports alembic and
    reads its scripts: about 0.1 s of each worker's start).
    """
    if readonly and handle.kind == "sqlite":
        written = _written_sqlite(handle.file_path.resolve())
        if written is not None:
            return written
    if key not in _OPENED:
        if handle.kind == "journal":
            _OPENED[key] = _journal_storage(handle.file_path)
        elif handle.kind == "grpc":
            _OPENED[key] = _grpc_storage(handle)
        elif readonly:
            _OPENED[key] = _rdb_storage_readonly(handle)
            _READ_ONLY.add(key)
        else:
            if not schema_ready:
                refuse_foreign_database(handle)
            _OPENED[key] = _with_schema_retry(lambda: _rdb_storage(handle, schema_ready=schema_ready))
            if handle.kind == "sqlite":
                _SQLITE_WRITTEN[key] = handle.file_path.resolve()
        _close_all_at_exit()
    return _OPENED[key]


def _written_sqlite(path: Path) -> optuna.storages.BaseStorage | None:
    """This process's read-write storage of the SQLite file at ``path``, if it opened one.

    A process that has written a file reads it through the same storage: a second, ``mode=ro``
    connection opened after the read-write one has been used made other processes' later
    writes vanish (measured: workers' trials invisible to the parent, and gone after it ended).
    """
    for key, written in _SQLITE_WRITTEN.items():
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
        if key in _SQLITE_WRITTEN:
            rest_in_one_file(_SQLITE_WRITTEN.pop(key))
    _READ_ONLY.clear()


def rest_in_one_file(path: Path) -> bool:
    """Fold the write-ahead log into the file and return to a rollback journal, if no one else is connected.

    A storage at rest is then one self-contained file: a copy of it is complete, and a reader
    (``status``, opened read-only) makes no ``-wal``/``-shm`` files beside it. The next writer
    turns WAL on again. While another process is connected (a worker, a dashboard, another
    ``tune``) SQLite refuses the switch at once, and the log stays, as correct as before.

    Returns:
        Whether the file is now at rest (False: in use, or no longer there).
    """
    import sqlite3
    from urllib.parse import quote

    connection, mode = None, None
    with contextlib.suppress(sqlite3.Error):  # mode=rw: a file moved away meanwhile is not made anew
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=0.1)
        mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    if connection is not None:
        connection.close()
    return mode == "delete"


@functools.cache
def _close_all_at_exit() -> None:
    atexit.register(close_all)


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


def _rdb_storage(handle: StorageHandle, *, schema_ready: bool) -> RDBStorage:
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
            "connect_args": POSTGRES_CONNECT_ARGS,
        }
    interval = handle.heartbeat_seconds
    with warnings.catch_warnings():  # heartbeats are marked experimental but are the documented way
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = SteadyHeartbeatRDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=3 * interval,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            skip_table_creation=schema_ready,
            skip_compatibility_check=schema_ready,
        )
    if handle.kind == "sqlite":
        _use_write_ahead_log(storage.engine)
    return storage


def _rdb_storage_readonly(handle: StorageHandle) -> RDBStorage:
    """An RDB storage that cannot write, refused unless it holds Optuna's schema."""
    if handle.kind == "sqlite" and handle.file_path.stat().st_size == 0:
        # An empty file is an empty SQLite database: tune may make its tables.
        raise NoOptunaSchema(f"{handle.redacted} is an empty file: it holds no Optuna storage")
    if not OPTUNA_TABLES <= _tables(handle):
        raise NoOptunaSchema(
            f"{handle.redacted} holds no Optuna storage (its tables are missing); "
            "check --storage, or run 'pairsearch tune' to start one"
        )
    url, engine_kwargs = _readonly_target(handle)
    return RDBStorage(url, engine_kwargs=engine_kwargs, skip_table_creation=True)


def refuse_foreign_database(handle: StorageHandle) -> None:
    """A writer's check, before Optuna makes any table: the database is new, empty, or an Optuna
    storage — never another application's, which Optuna would otherwise fill with its tables."""
    path = handle.file_path
    if handle.kind == "sqlite" and (not path.exists() or path.is_dir() or path.stat().st_size == 0):
        return  # a new or empty file (a folder is refused when opened, in one line)
    tables = _tables(handle)
    if tables and not OPTUNA_TABLES <= tables:
        raise PairsearchError(
            f"{handle.redacted} holds another application's tables ({len(tables)}, no Optuna storage): "
            "pairsearch writes only to a new or empty database or to an Optuna storage; check --storage")


def _tables(handle: StorageHandle) -> set[str]:
    """The database's table names, read without writing anything."""
    if handle.kind == "sqlite":
        return _sqlite_table_names(handle.file_path)
    url, engine_kwargs = _readonly_target(handle)
    return _table_names(url=url, engine_kwargs=engine_kwargs)


def _readonly_target(handle: StorageHandle) -> tuple[str, dict]:
    """The URL and engine options that read ``handle`` without writing."""
    if handle.kind == "sqlite":
        return f"sqlite:///file:{handle.file_path.resolve()}?mode=ro&uri=true", {"connect_args": {"timeout": 60}}
    return psycopg_url(handle.url), {
        "pool_size": 1, "max_overflow": 1, "pool_pre_ping": True,
        "connect_args": {**POSTGRES_CONNECT_ARGS, "options": "-c default_transaction_read_only=on"},
    }


def _sqlite_table_names(path: Path) -> set[str]:
    """The tables in an SQLite file's main database, read through SQLite as an immutable file: no
    lock, no journal, no shared memory. Never with Python's ``open``: closing any descriptor of
    the file drops every POSIX lock this process's SQLite connections hold on it, and a reader
    whose lock was dropped lost the workers' writes (measured: a final-report's jobs vanished
    from the file). A new storage's tables still only in the write-ahead log are not seen: such
    a file reads as without tables, which a writer may use."""
    import sqlite3
    from urllib.parse import quote

    connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?immutable=1", uri=True)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        raise PairsearchError(f"sqlite:///{path} is not an SQLite database (nor an Optuna storage)") from None
    finally:
        connection.close()


def _table_names(*, url: str, engine_kwargs: dict) -> set[str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **engine_kwargs)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


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
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError:  # a read-only file (its first write then says so), or a
            mode = None  # reader's lock held past the busy timeout: this connection keeps the journal
        if mode == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode only; else SQLite's FULL
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


def psycopg_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` spelled with the psycopg 3 driver SQLAlchemy needs."""
    return url.replace("postgres://", "postgresql+psycopg://", 1).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


# --- the study lock --------------------------------------------------------------------------


@contextlib.contextmanager
def file_lock(*, path: Path) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except Timeout:  # held for the milliseconds of one count and create, unless its holder stopped
        raise PairsearchError(
            f"the study lock {path} has been held by another process for over {LOCK_TIMEOUT_SECONDS} s "
            "(a stopped pairsearch process on this host? see ps)"
        ) from None
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
def advisory_lock(*, url: str, study_name: str) -> Iterator[None]:
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
        psycopg_url(url), pool_size=1, max_overflow=1, pool_pre_ping=True,
        connect_args={**POSTGRES_CONNECT_ARGS,
                      "options": f"-c idle_in_transaction_session_timeout={LOCK_HOLD_LIMIT_SECONDS * 1000}"},
    )


def safe_name(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]
