"""SQLite storages: one file on a local disk, its name, opening, what it holds, coming to rest.

An SQLite file is inspected only through SQLite (as an immutable file), never with Python's
``open``: closing any descriptor of the file drops every POSIX lock this process's SQLite
connections hold on it, and a reader whose lock was dropped lost the workers' writes (measured:
a final-report's jobs vanished from the file).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from pairsearch.errors import PairsearchError
from pairsearch.storage import rdb
from pairsearch.storage.failures import NoOptunaSchema, describe_error

# Characters SQLAlchemy's URL parsing (%XX, ?query) or SQLite's URI filenames (#fragment) would
# read differently: a path holding one would open another file than the one named.
URL_CHARACTERS = "%?#"
SMALLEST_PAGE_BYTES = 512
BUSY_TIMEOUT = {"connect_args": {"timeout": 60}}  # parallel local workers wait for the write lock


def path_of(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL."""
    return Path(url.removeprefix("sqlite:///"))


def check_path(path: Path) -> None:
    """Refuse a path that SQLAlchemy or SQLite would read as another file's."""
    found = sorted({character for character in str(path) if character in URL_CHARACTERS})
    if found:
        raise PairsearchError(
            f"the SQLite path {str(path)!a} holds {' and '.join(map(repr, found))}, which a database URL "
            "reads as an escape, a query or a fragment (it would open another file): rename it without them")


def open_writer(handle, *, schema_ready: bool):
    """The file, for writing, in WAL mode; a new file is made whole first (:func:`create_whole`)."""
    if not schema_ready and not handle.file_path.exists():
        create_whole(handle)
    # mode=rw: a connection never makes a new file where the storage was deleted (workers wrote
    # their trials into such a file, and it read as the storage to the next command).
    url = f"sqlite:///file:{handle.file_path.resolve()}?mode=rw&uri=true"
    storage = rdb.open_writer(handle=handle, url=url, engine_kwargs=BUSY_TIMEOUT, schema_ready=schema_ready)
    use_write_ahead_log(storage.engine)
    return storage


def create_whole(handle) -> None:
    """Make a new storage file all or nothing: Optuna's tables in a file beside it, then linked in.

    A disk that fills (or any failure) on the way leaves nothing: not a half-made database that
    every later command would call "a readonly database", nor the temporary file, nor the
    folders made for it. A file another process linked in meanwhile is kept (it is the same
    empty storage).
    """
    path = handle.file_path
    made = _make_folders(path.parent)
    temporary = path.with_name(f"{path.name}.new{os.getpid() % 100000}")
    try:
        engine = rdb.create_schema(url=f"sqlite:///{temporary}")
        engine.dispose()
        with contextlib.suppress(FileExistsError):  # not a rename: never over a file made meanwhile
            os.link(temporary, path)
    except Exception as error:  # noqa: BLE001 -- SQLAlchemy and OS errors alike: one line
        _remove(temporary, *made)
        raise PairsearchError(f"cannot make the storage {handle.redacted}: {describe_error(error)} "
                              "(nothing was left behind; free some space, or choose another --storage)") from None
    _remove(temporary)


def _make_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; the ones made, deepest first."""
    missing = [folder, *folder.parents]
    missing = [part for part in missing if not part.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove(*paths: Path) -> None:
    """Remove files (and their SQLite side files) and empty folders, each if there."""
    for path in paths:
        for side in (path, path.with_name(f"{path.name}-journal")):
            with contextlib.suppress(OSError):
                side.rmdir() if side.is_dir() else side.unlink()


def open_reader(handle):
    """The file opened ``mode=ro``, refused unless it holds Optuna's schema."""
    if handle.file_path.stat().st_size == 0:
        # An empty file is an empty SQLite database: tune may make its tables.
        raise NoOptunaSchema(f"{handle.redacted} is an empty file: it holds no Optuna storage")
    url = f"sqlite:///file:{handle.file_path.resolve()}?mode=ro&uri=true"
    return rdb.open_reader(handle=handle, url=url, engine_kwargs=BUSY_TIMEOUT)


def table_names(handle) -> set[str]:
    """The tables of the file's main database; none for a new or empty file (a writer may use it).

    A new storage's tables still only in the write-ahead log are not seen: such a file reads as
    without tables, which a writer may use.
    """
    path = handle.file_path
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    try:
        return _read_immutable(path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    except sqlite3.DatabaseError:
        raise PairsearchError(f"sqlite:///{path} is not an SQLite database (nor an Optuna storage)") from None


def is_sqlite_database(path: Path) -> bool:
    """Whether the file at ``path`` is an SQLite database holding a page or more, read through SQLite.

    SQLite takes a file shorter than its smallest page as an empty database: such a file is not
    called one here (a journal's first line may be that short while it is written).
    """
    if not path.is_file() or path.stat().st_size < SMALLEST_PAGE_BYTES:
        return False
    try:
        _read_immutable(path, "PRAGMA schema_version")
    except sqlite3.DatabaseError:
        return False
    return True


def _read_immutable(path: Path, query: str) -> set:
    """The first column of ``query``'s rows, read as an immutable file: no lock, journal or shared memory."""
    connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?immutable=1", uri=True)
    try:
        return {row[0] for row in connection.execute(query)}
    finally:
        connection.close()


def rest_in_one_file(path: Path) -> bool:
    """Fold the write-ahead log into the file and return to a rollback journal, if no one else is connected.

    A storage at rest is then one self-contained file: a copy of it is complete, and a reader
    (``status``, opened read-only) makes no ``-wal``/``-shm`` files beside it. The next writer
    turns WAL on again. While another process is connected (a worker, a dashboard, another
    ``tune``) SQLite refuses the switch at once, and the log stays, as correct as before.

    Returns:
        Whether the file is now at rest (False: in use, or no longer there).
    """
    connection, mode = None, None
    with contextlib.suppress(sqlite3.Error):  # mode=rw: a file moved away meanwhile is not made anew
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=0.1)
        mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    if connection is not None:
        connection.close()
    return mode == "delete"


def use_write_ahead_log(engine) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: a commit costs ~0.01 ms instead of ~16 ms.

    A trial commits ~20 times plus twice per epoch (bench/RESULTS.md). NORMAL may lose the last
    commits on a power cut but never corrupts the file; WAL needs a local (not network) disk.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, connection_record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError:  # a read-only file (its first write then says so), or a
            mode = None  # reader's lock held past the busy timeout: this connection keeps the journal
        if mode == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode only; else SQLite's FULL
        cursor.close()

    engine.dispose()  # connections opened before the listener existed are replaced
