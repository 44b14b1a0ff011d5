"""What a storage error means: an outage worth waiting out, a permanent failure, and its one line."""

from __future__ import annotations

import optuna

from pairsearch.errors import PairsearchError


class NoOptunaSchema(PairsearchError):
    """A database without Optuna's tables: refused by readers (``tune`` may create them)."""


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


def describe_error(error: BaseException) -> str:
    """The first line of the deepest driver message in the chain, without any URL in it."""
    import sqlalchemy.exc

    drivers = [link for link in _error_chain(error) if isinstance(link, sqlalchemy.exc.DBAPIError)]
    inner = getattr(drivers[-1], "orig", None) if drivers else None
    inner = inner or (drivers[-1] if drivers else error)
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text[:300]


def _error_chain(error: BaseException) -> list[BaseException]:
    chain, seen = [], error
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def _is_permanent(error: BaseException) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("readonly", "read-only", "disk is full", "no space left"))
