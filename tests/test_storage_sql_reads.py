"""Many studies' trials read together from an SQL storage: trial for trial what Optuna's own reads give."""

from __future__ import annotations

import sqlite3

import optuna
import pytest
from conftest import REPO

from pairsearch.storage import sql_reads
from pairsearch.storage.handle import StorageHandle


def _add_varied_studies(url: str) -> None:
    """A maximised and a minimised study whose trials hold every kind of data a trial holds (params,
    values, user and system attrs, intermediate values), an enqueued and a failed trial; an empty study."""
    storage = optuna.storages.RDBStorage(url)
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "c": optuna.distributions.CategoricalDistribution(["a", "b"])}
    for name, direction in (("up", "maximize"), ("down", "minimize")):
        study = optuna.create_study(study_name=name, storage=storage, direction=direction)
        study.enqueue_trial({"x": 0.5})  # a system attr: the fixed params
        for value in (0.5, 0.25, 0.75, 0.125):
            trial = study.ask(space)
            trial.set_user_attr("job", {"seed": 3, "value": value})
            trial.report(value / 2, step=0)
            study.tell(trial, value)
        study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    optuna.create_study(study_name="empty", storage=storage)


def _read_together_as_optuna_reads(storage) -> None:
    """``sql_reads.read_trials`` and ``sql_reads.best_trials`` give what Optuna's own reads give, trial for trial."""
    studies = {study.study_name: study for study in storage.get_all_studies()}
    ids = [study._study_id for study in studies.values()]
    assert sql_reads.read_trials(storage=storage, study_ids=[*ids, 999]) == {
        **{study_id: storage.get_all_trials(study_id, deepcopy=False) for study_id in ids}, 999: []}
    ranked = [studies["up"], studies["down"]]
    best = sql_reads.best_trials(storage=storage, studies=ranked)
    assert best == {study._study_id: storage.get_best_trial(study._study_id) for study in ranked}
    assert [best[study._study_id].value for study in ranked] == [0.75, 0.125]
    up = best[studies["up"]._study_id]
    assert sql_reads.read_trials(storage=storage, study_ids=ids, trial_ids=[up._trial_id])[studies["up"]._study_id] == [up]


def test_sqlite_trials_read_together_are_optunas(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    _add_varied_studies(url)
    _read_together_as_optuna_reads(StorageHandle.resolve(url=url).open(readonly=True))


@pytest.mark.postgres
def test_postgres_trials_read_together_are_optunas(pg_url):
    _add_varied_studies(pg_url)
    _read_together_as_optuna_reads(StorageHandle.resolve(url=pg_url).open(readonly=True))


def test_published_final_jobs_and_best_trials_read_together_are_optunas(tmp_path):
    """On real results (the published storage, read-only): every final study's trials, every tuning study's best."""
    db = tmp_path / "results.db"
    db.write_bytes((REPO / "docs" / "results" / "pairsearch.db").read_bytes())
    storage = StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True)
    finals = [study._study_id for study in storage.get_all_studies() if study.study_name.endswith(".final")]
    tuning = [study for study in storage.get_all_studies() if not study.study_name.endswith(".final")]
    assert finals and tuning
    assert sql_reads.read_trials(storage=storage, study_ids=finals) == {
        study_id: storage.get_all_trials(study_id, deepcopy=False) for study_id in finals}
    assert sql_reads.best_trials(storage=storage, studies=tuning) == {
        study._study_id: storage.get_best_trial(study._study_id) for study in tuning}


def test_a_trial_added_between_the_queries_is_left_for_the_next_read(tmp_path):
    """Each query sees the storage anew (SQLite without a transaction, PostgreSQL's read committed):
    a trial a worker adds after the trials were read, while their data are read, is not half read."""
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'p.db'}"
    _add_varied_studies(url)
    with sqlite3.connect(tmp_path / "p.db") as connection:  # as tune leaves it: readers and a writer at once
        connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    storage = StorageHandle.resolve(url=url).open(readonly=True)
    up = next(study for study in storage.get_all_studies() if study.study_name == "up")
    added = []

    def add_a_trial_once(*_):
        if not added:
            added.append(True)
            writer = optuna.load_study(study_name="up", storage=url)
            trial = writer.ask()
            trial.suggest_float("x", 0, 1)
            trial.set_user_attr("job", {"seed": 9})
            writer.tell(trial, 0.9)

    sqlalchemy.event.listen(storage.engine, "after_cursor_execute", add_a_trial_once)
    try:
        read = sql_reads.read_trials(storage=storage, study_ids=[up._study_id])[up._study_id]
    finally:
        sqlalchemy.event.remove(storage.engine, "after_cursor_execute", add_a_trial_once)
    assert added and len(read) == 5  # the trials there when the trials were read, each whole
    assert read == storage.get_all_trials(up._study_id, deepcopy=False)[:5]
