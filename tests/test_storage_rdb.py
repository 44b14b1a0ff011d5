"""SQLite and PostgreSQL storages opened to read: what Optuna's constructor sets, no write, no alembic,
and a schema at another revision refused in one line with no byte changed."""

from __future__ import annotations

import pickle
import sqlite3
import subprocess
import sys

import optuna
import pytest
import sqlalchemy
from conftest import REPO, main_in_process, storage_digest

from pairsearch.storage import rdb
from pairsearch.storage.handle import StorageHandle


def _storage_with_a_study(url: str) -> None:
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.tell(study.ask(), 0.5)


def _set_revision(url: str, revisions: list[str]) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM alembic_version"))
        for revision in revisions:
            connection.execute(sqlalchemy.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    engine.dispose()


def test_the_reader_sets_every_attribute_optunas_constructor_sets(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    _storage_with_a_study(url)
    optunas = optuna.storages.RDBStorage(url, skip_table_creation=True)
    reader = rdb.ReaderRDBStorage(url, engine_kwargs={})
    assert set(vars(reader)) == set(vars(optunas)) - {"_version_manager"}
    simple = ("url", "engine_kwargs", "heartbeat_interval", "grace_period", "heartbeat_stale_trial_callback")
    assert [getattr(reader, name) for name in simple] == [getattr(optunas, name) for name in simple]
    assert reader.get_all_studies() == optunas.get_all_studies()
    assert reader.get_current_version() == optunas.get_head_version()  # its version manager, made on first use


def test_the_head_revision_read_from_optunas_scripts_is_alembics(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'p.db'}")
    assert rdb.head_revision() == storage.get_head_version()


def test_a_reading_command_imports_no_alembic(tmp_path):
    """Optuna's constructor imports alembic (0.17 s) for its version check; a reader checks without it."""
    db = tmp_path / "p.db"
    _storage_with_a_study(f"sqlite:///{db}")
    script = ("import sys; from pairsearch.storage.handle import StorageHandle; "
              f"storage = StorageHandle.resolve(url='sqlite:///{db}').open(readonly=True); "
              "print(len(storage.get_all_studies()), 'alembic' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.split() == ["1", "False"]


@pytest.mark.parametrize(("revisions", "remedy"), [
    (["v3.0.0.d"], "at revision v3.0.0.d, and Optuna"),
    # Optuna makes the tables, then records the revision: a tune may be between the two (its own
    # reader takes this as a new storage and opens a writer), or an Optuna before alembic wrote it.
    ([], "no schema revision: a tune may be making them right now"),
    (None, "no schema revision: a tune may be making them right now"),  # no alembic_version table at all
    (["v9.0.0.a"], "read it with the newer Optuna that wrote it"),  # one this Optuna cannot upgrade to
], ids=["older", "none", "no-table", "newer"])
def test_an_sqlite_storage_at_another_revision_is_refused_unchanged(tmp_path, capsys, revisions, remedy):
    """Optuna's own reader wrote there (stamping a missing revision: 'attempt to write a readonly
    database') or named only Optuna's versions; a reader refuses in one line, changing no byte."""
    db = tmp_path / "p.db"
    _storage_with_a_study(f"sqlite:///{db}")
    if revisions is None:
        with sqlite3.connect(db) as connection:
            connection.execute("DROP TABLE alembic_version")
        connection.close()
    else:
        _set_revision(f"sqlite:///{db}", revisions)
    before = storage_digest(db)
    code, stdout, stderr = main_in_process(["status", "--storage", f"sqlite:///{db}"], capsys=capsys)
    assert (code, stdout) == (2, "")
    assert stderr.count("\n") == 1 and remedy in stderr
    assert ("optuna storage upgrade" in stderr) == (revisions != ["v9.0.0.a"])  # not to a revision it does not know
    assert storage_digest(db) == before


def test_the_head_revision_is_read_from_typed_assignments_too(tmp_path, monkeypatch):
    """Alembic's newer script template types its assignments; one not understood leaves it to alembic."""
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text("revision: str = 'b'\ndown_revision: Union[str, None] = 'a'\n")
    monkeypatch.setattr(rdb, "_SCRIPTS", tmp_path)
    rdb.head_revision.cache_clear()
    rdb._migration_scripts.cache_clear()
    try:
        assert rdb.head_revision() == "b" and rdb.migration_revisions() == {"a", "b"}
    finally:
        rdb.head_revision.cache_clear()
        rdb._migration_scripts.cache_clear()


def test_a_reader_is_not_sent_to_another_process(tmp_path):
    _storage_with_a_study(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(TypeError, match="open it there"):
        pickle.dumps(rdb.ReaderRDBStorage(f"sqlite:///{tmp_path / 'p.db'}", engine_kwargs={}))


@pytest.mark.postgres
def test_a_postgres_storage_at_another_revision_is_refused_unchanged(pg_url, capsys):
    _storage_with_a_study(pg_url)
    _set_revision(pg_url, ["v3.0.0.d"])
    code, _, stderr = main_in_process(["status", "--storage", pg_url], capsys=capsys)
    assert code == 2 and "revision v3.0.0.d" in stderr and stderr.count("\n") == 1
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).all() == [("v3.0.0.d",)]
    engine.dispose()


def test_a_storage_at_the_head_revision_opens_to_read(tmp_path):
    db = tmp_path / "p.db"
    _storage_with_a_study(f"sqlite:///{db}")
    storage = StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True)
    assert isinstance(storage, rdb.ReaderRDBStorage)
    assert storage.schema_revisions() == [rdb.head_revision()]


def test_tune_takes_a_storage_whose_schema_another_tune_is_making_as_new(tmp_path):
    """Two tunes start on a new database: one has made Optuna's tables, not yet recorded the revision.
    The other's look for an existing study finds none (as in an empty database) and opens a writer."""
    from pairsearch.storage.failures import NoOptunaSchema

    db = tmp_path / "p.db"
    _storage_with_a_study(f"sqlite:///{db}")
    _set_revision(f"sqlite:///{db}", [])
    with pytest.raises(NoOptunaSchema, match="a tune may be making them right now"):
        StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True)
