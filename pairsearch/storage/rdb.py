"""What SQLite and PostgreSQL storages share: Optuna's schema, heartbeats, another application's tables."""

from __future__ import annotations

import functools
import re
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._rdb import storage as optuna_rdb

from pairsearch.errors import PairsearchError
from pairsearch.storage.failures import NoOptunaSchema
from pairsearch.storage.heartbeats import SteadyHeartbeatRDBStorage

MAX_RETRY = 3
OPTUNA_TABLES = {"studies", "trials", "version_info"}
ALEMBIC_TABLE = "alembic_version"  # the schema's revision, in every Optuna storage made since alembic came in


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
    """An RDB storage that cannot write, refused unless it holds Optuna's schema at the revision
    this Optuna reads."""
    tables = handle.kind.table_names(handle)
    if not OPTUNA_TABLES <= tables:
        raise NoOptunaSchema(
            f"{handle.redacted} holds no Optuna storage (its tables are missing); "
            "check --storage, or run 'pairsearch tune' to start one"
        )
    storage = ReaderRDBStorage(url, engine_kwargs=engine_kwargs)
    revisions = storage.schema_revisions() if ALEMBIC_TABLE in tables else []
    if revisions != [head_revision()]:
        storage.engine.dispose()
        raise _revision_refusal(redacted=handle.redacted, revisions=revisions)
    return storage


def _revision_refusal(*, redacted: str, revisions: list[str]) -> PairsearchError:
    """Why a reader refuses a storage whose schema revision is not this Optuna's head."""
    if not revisions:  # Optuna records the revision just after making the tables: a writer may be between the two
        return NoOptunaSchema(
            f"{redacted} holds Optuna's tables but no schema revision: a tune may be making them right now "
            "(run the command again), or an Optuna older than its schema migrations wrote them "
            "(upgrade them with 'optuna storage upgrade', a write: copy the storage first)")
    remedy = ("upgrade it with 'optuna storage upgrade' (a write: copy the storage first), or read it with "
              "the Optuna that wrote it" if set(revisions) <= migration_revisions()
              else "read it with the newer Optuna that wrote it")
    return PairsearchError(f"{redacted} holds Optuna's schema at revision {', '.join(revisions)}, and "
                           f"Optuna {optuna.__version__} reads {head_revision()}: {remedy}")


class ReaderRDBStorage(RDBStorage):
    """Optuna's RDB storage for a command that only reads, opened without what its constructor
    does for a writer.

    ``RDBStorage``'s constructor makes Optuna's tables, and its version manager inserts a version
    row and stamps alembic's revision where they are missing (writes, which a read-only connection
    refuses) and imports alembic to check the revision (0.17 s of every reading command). A reader
    sets the constructor's attributes (a test compares them with ``RDBStorage``'s) and
    :func:`open_reader` checks the revision in one query; the version manager is made on first use.
    """

    def __init__(self, url: str, *, engine_kwargs: dict) -> None:
        import sqlalchemy.orm

        self.engine_kwargs = engine_kwargs
        self.url = self._fill_storage_url_template(url)
        self.skip_compatibility_check = True
        self.heartbeat_interval = self.grace_period = None
        self.heartbeat_stale_trial_callback = self.failed_trial_callback = None
        self.engine = sqlalchemy.create_engine(self.url, **engine_kwargs)
        self.scoped_session = sqlalchemy.orm.scoped_session(sqlalchemy.orm.sessionmaker(bind=self.engine))

    def __getstate__(self) -> dict:
        # RDBStorage's own would drop a version manager not made yet and, restored, make tables.
        raise TypeError("a storage opened to read is not sent to another process: open it there")

    @functools.cached_property
    def _version_manager(self):
        return optuna_rdb._VersionManager(self.url, self.engine, self.scoped_session)

    def schema_revisions(self) -> list[str]:
        """The revisions alembic's table records (one in an Optuna storage)."""
        import sqlalchemy

        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(sqlalchemy.text(f"SELECT version_num FROM {ALEMBIC_TABLE}"))]


@functools.cache
def head_revision() -> str:
    """The revision of Optuna's schema this Optuna reads and writes: the one its migration scripts
    name that no script revises (what alembic's ``get_current_head`` finds, read here as text: a
    test compares the two); alembic's own reading where a script's text is not understood."""
    named = migration_revisions()
    heads = named - {revised for _, revised in _migration_scripts().values()}
    if None not in named and len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_SCRIPTS.parent)).get_current_head()


def migration_revisions() -> set[str | None]:
    """Every revision Optuna's migration scripts name (None for a script whose revision is not found):
    the schemas 'optuna storage upgrade' upgrades."""
    return {revision for revision, _ in _migration_scripts().values()}


_SCRIPTS = Path(optuna_rdb.__file__).with_name("alembic") / "versions"
_ASSIGNED = r'^{name}(?:\s*:[^=]*)?\s*=\s*["\']([^"\']+)["\']'  # name = "v…", also typed: name: str = 'v…'


@functools.cache
def _migration_scripts() -> dict[str, tuple[str | None, str | None]]:
    """Each script of Optuna's: (its revision, the revision it revises), None where not found."""
    found = {}
    for script in _SCRIPTS.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revision, revised = (re.search(_ASSIGNED.format(name=name), text, re.MULTILINE)
                             for name in ("revision", "down_revision"))
        found[script.name] = (revision and revision[1], revised and revised[1])
    return found


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
