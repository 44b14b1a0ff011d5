"""What SQLite and PostgreSQL storages share: Optuna's schema, heartbeats, another application's tables."""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

from pairsearch.errors import PairsearchError
from pairsearch.storage.failures import NoOptunaSchema
from pairsearch.storage.heartbeats import SteadyHeartbeatRDBStorage

MAX_RETRY = 3
OPTUNA_TABLES = {"studies", "trials", "version_info"}


def open_writer(*, handle, url: str, engine_kwargs: dict, schema_ready: bool) -> RDBStorage:
    """An RDB storage with heartbeats, for writing.

    Args:
        handle: The storage (its kind reads the tables; its heartbeat interval).
        url: The SQLAlchemy URL to open.
        engine_kwargs: SQLAlchemy engine options.
        schema_ready: A worker's parent opened this storage in full (tables made, schema version
            checked), so the worker skips both (Optuna's version check imports alembic and reads
            its scripts: about 0.1 s of each worker's start).
    """
    if not schema_ready:
        refuse_foreign_database(handle)
    return _with_schema_retry(lambda: _heartbeat_storage(
        handle=handle, url=url, engine_kwargs=engine_kwargs, schema_ready=schema_ready))


def open_reader(*, handle, url: str, engine_kwargs: dict) -> RDBStorage:
    """An RDB storage that cannot write, refused unless it holds Optuna's schema."""
    if not OPTUNA_TABLES <= handle.kind.table_names(handle):
        raise NoOptunaSchema(
            f"{handle.redacted} holds no Optuna storage (its tables are missing); "
            "check --storage, or run 'pairsearch tune' to start one"
        )
    return RDBStorage(url, engine_kwargs=engine_kwargs, skip_table_creation=True)


def create_schema(*, url: str):
    """Make Optuna's tables at ``url`` (a new database); its SQLAlchemy engine, to dispose."""
    return RDBStorage(url).engine


def refuse_foreign_database(handle) -> None:
    """A writer's check, before Optuna makes any table: the database is new, empty, or an Optuna
    storage — never another application's, which Optuna would otherwise fill with its tables."""
    tables = handle.kind.table_names(handle)
    if tables and not OPTUNA_TABLES <= tables:
        raise PairsearchError(
            f"{handle.redacted} holds another application's tables ({len(tables)}, no Optuna storage): "
            "pairsearch writes only to a new or empty database or to an Optuna storage; check --storage")


def _heartbeat_storage(*, handle, url: str, engine_kwargs: dict, schema_ready: bool) -> RDBStorage:
    interval = handle.heartbeat_seconds
    with warnings.catch_warnings():  # heartbeats are marked experimental but are the documented way
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SteadyHeartbeatRDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=3 * interval,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            skip_table_creation=schema_ready,
            skip_compatibility_check=schema_ready,
        )


def _with_schema_retry(open_storage, attempts: int = 5):
    """Workers starting together on a fresh database race to create Optuna's tables; retry."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return open_storage()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)
