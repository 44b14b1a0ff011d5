"""The study lock of each kind: a PostgreSQL advisory lock, a file lock beside a file, or none.

The lock serialises "count the trials, then create one" across processes and hosts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path

from pairsearch.errors import PairsearchError
from pairsearch.storage.postgres import POSTGRES_CONNECT_ARGS, psycopg_url

LOCK_TIMEOUT_SECONDS = 600
# A study lock is held for the milliseconds it takes to sweep, count and create one trial. A
# holder that stops (a host gone, a stopped process) loses it after this long, or every worker
# on every host would wait for it until the server noticed the dead connection (hours).
LOCK_HOLD_LIMIT_SECONDS = 60
LOCK_NAME_HEX_DIGITS = 12


def safe_name(name: str) -> str:
    """A study name as a short, file-name-safe digest."""
    return hashlib.sha256(name.encode()).hexdigest()[:LOCK_NAME_HEX_DIGITS]


def lock_path(*, path: Path, study_name: str) -> Path:
    """The lock file of ``study_name`` beside the storage file ``path``."""
    return Path(f"{path}.{safe_name(study_name)}.lock")


# The longest name a storage file's companions add to it (the lock files; SQLite's -wal is shorter).
LONGEST_SUFFIX_BYTES = len(f".{safe_name('')}.lock".encode())


@contextlib.contextmanager
def no_lock(*, handle, study_name: str) -> Iterator[None]:
    """No shared lock (gRPC): its workers re-check the order after creating a trial."""
    yield


@contextlib.contextmanager
def file_lock_beside(*, handle, study_name: str) -> Iterator[None]:
    """The study's file lock beside an SQLite or journal file."""
    with file_lock(path=lock_path(path=handle.file_path, study_name=study_name)):
        yield


@contextlib.contextmanager
def advisory_lock_of(*, handle, study_name: str) -> Iterator[None]:
    """The study's advisory lock in the PostgreSQL database."""
    with advisory_lock(url=handle.url, study_name=study_name):
        yield


@contextlib.contextmanager
def file_lock(*, path: Path) -> Iterator[None]:
    """Hold the file lock at ``path``; refuse in one line when it cannot be taken."""
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
    """Hold PostgreSQL's advisory lock keyed by ``study_name``."""
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
