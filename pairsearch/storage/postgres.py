"""PostgreSQL storages: the psycopg 3 URL, connection options, opening to write or to read."""

from __future__ import annotations

from pairsearch.storage import rdb

# Every PostgreSQL connection: give up connecting after 10 s, and notice a server that went
# away without closing the connection (a host or network gone) in about 1 min, not 2 h.
POSTGRES_CONNECT_ARGS = {"connect_timeout": 10, "keepalives_idle": 30, "keepalives_interval": 10,
                         "keepalives_count": 3}
# Small pools: at most 2 connections per worker process (plus one for the study lock), so about
# 30 worker processes fit in a server's default 100 connections.
SMALL_POOL = {"pool_size": 1, "max_overflow": 1, "pool_pre_ping": True}


def psycopg_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` spelled with the psycopg 3 driver SQLAlchemy needs."""
    return url.replace("postgres://", "postgresql+psycopg://", 1).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


def open_writer(handle, *, schema_ready: bool):
    """The database, for writing (Optuna's tables made unless ``schema_ready``)."""
    return rdb.open_writer(handle=handle, url=psycopg_url(handle.url),
                           engine_kwargs={**SMALL_POOL, "connect_args": POSTGRES_CONNECT_ARGS},
                           schema_ready=schema_ready)


def open_reader(handle):
    """The database in read-only sessions, refused unless it holds Optuna's schema."""
    return rdb.open_reader(handle=handle, url=psycopg_url(handle.url), engine_kwargs=_readonly_engine_kwargs())


def table_names(handle) -> set[str]:
    """The database's table names, read in a read-only session."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(psycopg_url(handle.url), **_readonly_engine_kwargs())
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _readonly_engine_kwargs() -> dict:
    return {**SMALL_POOL,
            "connect_args": {**POSTGRES_CONNECT_ARGS, "options": "-c default_transaction_read_only=on"}}
