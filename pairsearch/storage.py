"""Storage URLs → Optuna storages, plus the lock that makes a study-wide budget exact.

Supported: ``sqlite:///path.db`` (default, one machine), ``postgresql+psycopg://…`` (many
machines), ``journal:PATH`` or a bare ``*.log`` path (Optuna journal file), and
``grpc://host:port`` (Optuna's gRPC storage proxy, see ``pairsearch storage-proxy``).
Passwords never leave this module: every message uses :func:`redact`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from pairsearch.errors import PairsearchError

DEFAULT_STORAGE = "sqlite:///storage/pairsearch.db"
STORAGE_ENV = "PAIRSEARCH_STORAGE"
HEARTBEAT_ENV = "PAIRSEARCH_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 10
MAX_RETRY = 3
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own progress display says what matters
SUPPORTED = "sqlite:///PATH, postgresql+psycopg://USER:PASS@HOST/DB, journal:PATH, grpc://HOST:PORT"


def storage_url(*, url: str | None) -> str:
    """``--storage`` if given, else ``$PAIRSEARCH_STORAGE``, else the local SQLite file."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``: safe for output, logs and errors.

    Both places a password can be are covered: ``user:PASSWORD@host`` and the query string
    (``?password=…``, which SQLAlchemy passes on to psycopg).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    rest = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", rest)
    if "@" not in rest:
        return f"{scheme}://{rest}"
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{rest}"


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


def heartbeat_seconds() -> int:
    raw = os.environ.get(HEARTBEAT_ENV, str(DEFAULT_HEARTBEAT_SECONDS))
    if not raw.isdigit() or int(raw) < 1:
        raise PairsearchError(f"{HEARTBEAT_ENV} must be a whole number of seconds ≥ 1, got {raw!r}")
    return int(raw)


def open_storage(*, url: str, must_exist: bool = False) -> optuna.storages.BaseStorage:
    """Open the Optuna storage at ``url``, creating a new SQLite/journal file unless ``must_exist``.

    Commands that only read (status, dashboard, final-report) pass ``must_exist`` so that a
    mistyped path is an error rather than a new, empty database.
    """
    kind = kind_of(url)
    if must_exist and kind in ("sqlite", "journal"):
        path = sqlite_path(url) if kind == "sqlite" else journal_path(url)
        if not path.is_file():
            raise PairsearchError(f"no storage at {path}: run 'pairsearch tune' first, or check --storage")
    try:
        if kind == "journal":
            return _journal_storage(journal_path(url))
        if kind == "grpc":
            return _grpc_storage(url)
        return _with_schema_retry(lambda: _rdb_storage(url=url, kind=kind))
    except PairsearchError:
        raise
    except Exception as error:  # SQLAlchemy/psycopg/OS errors: one line, no password
        raise PairsearchError(f"cannot open storage {redact(url)}: {describe_error(error)}") from None


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


def _rdb_storage(*, url: str, kind: str) -> RDBStorage:
    if kind == "sqlite":
        sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
        # A busy timeout so parallel local workers wait for the write lock instead of failing.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        url = psycopg_url(url)
        # Small pools: at most 2 connections per worker process (plus one for the budget lock),
        # so about 30 worker processes fit in a server's default 100 connections.
        engine_kwargs = {
            "pool_size": 1, "max_overflow": 1, "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 10},
        }
    interval = heartbeat_seconds()
    with warnings.catch_warnings():  # heartbeats are marked experimental but are the documented way
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=3 * interval,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )
    if kind == "sqlite":
        _use_write_ahead_log(storage.engine)
    return storage


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


def _grpc_storage(url: str) -> optuna.storages.BaseStorage:
    host, _, port = url.removeprefix("grpc://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise PairsearchError(f"grpc storage URL must look like grpc://HOST:PORT, got {url!r}")
    try:
        from optuna.storages import GrpcStorageProxy
    except ImportError:
        raise PairsearchError("grpc storage needs grpcio and protobuf: pip install 'pairsearch[grpc]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = GrpcStorageProxy(host=host, port=int(port))
    proxy.wait_server_ready(timeout=10)
    return proxy


def serve_grpc_proxy(*, url: str, host: str, port: int) -> None:
    """Block serving ``url`` to gRPC clients (``grpc://host:port``) until Ctrl-C."""
    try:
        from optuna.storages import run_grpc_proxy_server
    except ImportError:
        raise PairsearchError("storage-proxy needs grpcio and protobuf: pip install 'pairsearch[grpc]'") from None
    storage = open_storage(url=url)
    print(f"gRPC storage proxy for {redact(url)} on grpc://{host}:{port} (Ctrl-C stops)", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        run_grpc_proxy_server(storage, host=host, port=port)


OUTAGE_ENV = "PAIRSEARCH_STORAGE_OUTAGE_SECONDS"
DEFAULT_OUTAGE_SECONDS = 600


def _error_chain(error: BaseException) -> list[BaseException]:
    chain, seen = [], error
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def is_storage_outage(error: BaseException) -> bool:
    """Whether ``error`` comes from a storage that went away (server restart, network, lock).

    Optuna wraps driver errors (StorageInternalError) and can itself fail while handling one,
    so the whole cause/context chain is searched for a connection-level error.
    """
    import sqlalchemy.exc

    transient = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, ConnectionError)
    links = [link for link in _error_chain(error) if isinstance(link, transient)]
    # A read-only or full storage is an OperationalError too, but waiting will not mend it.
    return bool(links) and not any(_is_permanent(link) for link in links)


def is_storage_failure(error: BaseException) -> bool:
    """Whether ``error`` comes from the storage at all (refused write, outage, bad database)."""
    import sqlalchemy.exc

    failures = (sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError, ConnectionError)
    return any(isinstance(link, failures) for link in _error_chain(error))


def _is_permanent(error: BaseException) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("readonly", "read-only", "disk is full", "no space left"))


class OutageBackoff:
    """Rides out a storage outage: wait 1, 2, 4 … 30 s between tries, give up after a limit."""

    def __init__(self) -> None:
        raw = os.environ.get(OUTAGE_ENV, str(DEFAULT_OUTAGE_SECONDS))
        self.limit = float(raw) if raw.replace(".", "", 1).isdigit() else DEFAULT_OUTAGE_SECONDS
        self.reset()

    def reset(self) -> None:
        self.started: float | None = None
        self.delay = 1.0

    def wait(self, error: BaseException) -> None:
        """Sleep before the next try, or raise once the outage has lasted longer than the limit."""
        now = time.monotonic()
        self.started = self.started or now
        reason = describe_error(error)
        if now - self.started > self.limit:
            raise PairsearchError(f"storage unavailable for over {self.limit:.0f} s: {reason}") from None
        print(f"pairsearch: storage unavailable ({reason}); retrying in {self.delay:.0f} s",
              file=sys.stderr, flush=True)
        time.sleep(self.delay)
        self.delay = min(2 * self.delay, 30.0)


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def journal_path(url: str) -> Path:
    return Path(url.removeprefix("journal:").removeprefix("//"))


def describe_error(error: BaseException) -> str:
    """The first line of the deepest driver message in the chain, without any URL in it."""
    import sqlalchemy.exc

    drivers = [link for link in _error_chain(error) if isinstance(link, sqlalchemy.exc.DBAPIError)]
    inner = getattr(drivers[-1], "orig", None) if drivers else None
    inner = inner or (drivers[-1] if drivers else error)
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text[:300]


# --- the budget lock -------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLock:
    """Serialises "count the study's trials, then create one" across every worker and host."""

    url: str
    study_name: str

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        kind = kind_of(self.url)
        if kind == "postgresql":
            with self._advisory_lock():
                yield
        elif kind in ("sqlite", "journal"):
            from filelock import Timeout

            lock = self._file_lock()
            try:
                lock.acquire()
            except Timeout:
                raise
            except OSError as error:  # a read-only folder or a full disk: say so, no traceback
                raise PairsearchError(
                    f"cannot take the study lock {lock.lock_file}: {error.strerror or error} "
                    "(the storage's folder must be writable)"
                ) from None
            try:
                yield
            finally:
                lock.release()
        else:  # grpc: no shared lock; tuning re-checks the order after creating the trial
            yield

    def _file_lock(self):
        from filelock import FileLock

        base = sqlite_path(self.url) if kind_of(self.url) == "sqlite" else journal_path(self.url)
        return FileLock(f"{base}.{_safe_name(self.study_name)}.lock", timeout=600)

    @contextlib.contextmanager
    def _advisory_lock(self) -> Iterator[None]:
        import sqlalchemy

        key = int.from_bytes(hashlib.sha256(self.study_name.encode()).digest()[:8], "big", signed=True)
        with _lock_engine(self.url).connect() as connection:
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
