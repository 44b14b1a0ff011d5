"""``pairsearch status`` and the progress helpers of ``tune``."""

from __future__ import annotations

from collections import Counter

import optuna
import optuna_dashboard
import pytest
from conftest import (
    ONE_SEARCH_RUN,
    REPO,
    SHIFTED_RECIPE,
    TINY_STUDY,
    copy_one_search_run,
    run_cli,
    storage_digest,
    write_tiny_study,
)
from optuna.trial import TrialState

from pairsearch import overview, progress, tuning, tuning_setup
from pairsearch.data.pairs import DataChoice
from pairsearch.jobs import job_recipe_name
from pairsearch.storage import sql_reads
from pairsearch.storage.handle import StorageHandle
from pairsearch.studyspec import load_study_file
from pairsearch.training.recipes import course_recipe
from pairsearch.workers import runtime, supervisor


def table_row(stdout: str, study: str, recipe: str | None = None) -> list[str]:
    """The words of the status table's row for ``study`` (and ``recipe``: a final study has one per recipe)."""
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == study and recipe in (None, cells[2]):
            return cells
    raise AssertionError(f"no row for {study!r} ({recipe}) in:\n{stdout}")


def params_line(stdout: str, study: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"{study}: "))


def add_study(*, url: str, name: str, arch: str, tmp_path, pools, complete: int, failed: int) -> None:
    """A pairsearch study written in-process: ``complete`` finished and ``failed`` failed trials."""
    spec = load_study_file(path=write_tiny_study(tmp_path, arch=arch))
    job = tuning.TuneRequest(spec=spec, study_name=name, storage=StorageHandle.resolve(url=url), trials=complete, data=DataChoice(source=pools.source, data_dir=tmp_path), recipe=course_recipe(epochs=spec.epochs))
    study = tuning_setup.prepare_study(request=job, fingerprint=pools.fingerprint)
    distributions = {"channels": optuna.distributions.IntDistribution(4, 8)}
    for number in range(complete):
        study.add_trial(optuna.trial.create_trial(
            params={"channels": 4 + number}, distributions=distributions, value=0.5 + number / 100,
        ))
    for _ in range(failed):
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))


def test_status_lists_each_study_after_a_tune(tmp_path, tiny_study, data_dir, pools):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    tuned = run_cli(
        ["tune", "--arch", "base", "--study-file", str(tiny_study), "--trials", "2", "--workers", "1",
         "--storage", url, "--quiet"],
        data_dir=data_dir,
    )
    assert tuned.returncode == 0, tuned.stderr
    add_study(url=url, name="sep_aux-wide", arch="sep_aux", tmp_path=tmp_path, pools=pools, complete=3, failed=1)

    result = run_cli(["status", "--storage", url], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    base = table_row(result.stdout, "base")
    assert base[1:8] == ["base", "course", "2", "0", "0", "0", "0"]  # arch, recipe, finished, pruned, failed, running, waiting
    assert 0.0 <= float(base[8]) <= 100.0 and base[9] == "%"
    assert "channels=" in params_line(result.stdout, "base") and "lr=" in params_line(result.stdout, "base")
    wide = table_row(result.stdout, "sep_aux-wide")
    assert wide[1:8] == ["sep_aux", "course", "3", "0", "1", "0", "0"]
    assert wide[8:] == ["52.00", "%"]
    assert "no studies" not in result.stdout


def published_results(path) -> dict[str, list[float]]:
    """Test accuracies per arch in a results.csv of the published report."""
    import csv

    with open(path, encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    return {arch: [float(row["test_accuracy"]) for row in rows if row["arch"] == arch] for arch in {r["arch"] for r in rows}}


def test_status_of_the_published_results_fits_80_columns_reads_nothing_and_shows_final_means(tmp_path, data_dir):
    """The README's own example, its jobs moved to today's final seeds: each recipe's mean and count
    (the published report's), never one lucky seed or both recipes' counts; failed jobs counted once."""
    db = copy_one_search_run(tmp_path, seeds_moved=15)
    before = storage_digest(db)
    result = run_cli(["status", "--storage", f"sqlite:///{db}"], data_dir=data_dir, COLUMNS="80")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for recipe, csv_name in (("course", "results.csv"), ("strong", "strong-results.csv")):
        for arch, values in published_results(ONE_SEARCH_RUN / csv_name).items():
            cells = table_row(result.stdout, f"{arch}.final", recipe)
            mean = 100 * sum(values) / len(values)
            assert cells[3] == str(len(values)) and cells[8] == f"{mean:.2f}" and cells[12] == f"({len(values)})", cells
    words = " ".join(result.stdout.split())
    assert "digits.final (course): 2 failed jobs over 4 failed attempts" in words  # a job and its retry, twice
    assert "2 re-run and finished" in words
    assert "done: finished trials (complete + pruned" in words
    assert "other seeds" not in words
    assert storage_digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name)) == [db.name]


def test_status_of_the_published_run_keeps_each_study_name_on_one_line_in_80_columns(tmp_path, data_dir):
    """docs/results holds names such as base_aux.search1.final: at 80 columns the arch column goes
    (each name says its arch), never a name broken over two lines; at 200 it stays."""
    db = tmp_path / "published.db"
    db.write_bytes((REPO / "docs" / "results" / "pairsearch.db").read_bytes())
    narrow = run_cli(["status", "--storage", f"sqlite:///{db}"], data_dir=data_dir, COLUMNS="80")
    wide = run_cli(["status", "--storage", f"sqlite:///{db}"], data_dir=data_dir, COLUMNS="200")
    assert narrow.returncode == wide.returncode == 0, narrow.stderr + wide.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    rows = [line.split() for line in narrow.stdout.splitlines() if line.startswith("base_aux.search1.final ")]
    assert [cells[:2] for cells in rows] == [["base_aux.search1.final", "course"], ["base_aux.search1.final", "strong"]]
    assert table_row(wide.stdout, "base_aux.search1.final", "strong")[:3] == ["base_aux.search1.final", "base_aux",
                                                                             "strong"]
    assert [line.split()[:2] for line in narrow.stdout.splitlines() if line.startswith("study")] == [["study", "recipe"]]
    rows = [cells for cells in map(str.split, wide.stdout.splitlines())
            if cells[2:3] in (["course"], ["strong"]) and not cells[0].endswith(":")]  # not the notes under it
    finals = [cells[0].endswith(".final") for cells in rows]
    assert finals == sorted(finals)  # the tuning studies, then the final ones
    for final in (False, True):  # each in the reports' one arch order, not the alphabet
        archs = list(dict.fromkeys(cells[1] for cells, is_final in zip(rows, finals) if is_final == final))
        assert archs == ["base", "base_aux", "sep", "sep_aux", "joint", "split", "digits"]


def test_status_counts_the_jobs_at_the_seeds_of_the_default_report_only(tmp_path, data_dir):
    """Jobs of an earlier run at other seeds are counted in a note, never mixed into the mean."""
    db = copy_one_search_run(tmp_path, seeds_moved=3)  # seeds 1000–1002; 3…14 are no seeds of today's report
    result = run_cli(["status", "--storage", f"sqlite:///{db}"], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    values = published_results(ONE_SEARCH_RUN / "results.csv")["base"][:3]
    cells = table_row(result.stdout, "base.final", "course")
    assert cells[3] == "3" and cells[8] == f"{100 * sum(values) / 3:.2f}" and cells[12] == "(3)", cells
    words = " ".join(result.stdout.split())
    assert "base.final: 12 course and 12 strong jobs at seeds other than 1000–1014" in words
    assert "failed jobs" not in words  # digits' failed seeds 4 and 5 are among the others


@pytest.mark.slow  # a tune and two final reports (a minute on 2 cores): end to end, run once in CI's slow stage
def test_status_shows_each_recipes_jobs_in_a_row_of_its_own(tmp_path, data_dir):
    """Jobs under ``--recipe`` share the best trial and epochs: the recipe tells them apart."""
    study_file = tmp_path / "study.toml"  # small batches: one epoch learns enough to tell recipes apart
    study_file.write_text(TINY_STUDY.format(arch="base", epochs=1).replace("batch_size = 250", "batch_size = 20"))
    recipe = tmp_path / "shifted.toml"
    recipe.write_text(SHIFTED_RECIPE)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    for args in (["tune", "--arch", "base", "--study-file", str(study_file), "--trials", "2"],
                 ["final-report", "--seeds", "2", "--out", str(tmp_path / "shifted"), "--recipe", str(recipe)],
                 ["final-report", "--seeds", "2", "--out", str(tmp_path / "course")]):
        done = run_cli([*args, "--workers", "1", "--storage", url, "--quiet"], data_dir=data_dir)
        assert done.returncode == 0, done.stderr
    jobs = optuna.load_study(study_name="base.final", storage=url).trials
    means = {name: 100 * sum(t.value for t in jobs if job_recipe_name(t) == name) / 2 for name in ("course", "shifted")}
    assert means["course"] != means["shifted"]  # else this test could not tell them apart

    result = run_cli(["status", "--storage", url], data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    for recipe, mean in means.items():
        assert table_row(result.stdout, "base.final", recipe)[3:9] == ["2", "0", "0", "0", "0", f"{mean:.2f}"]
    note = optuna_dashboard.get_note(optuna.load_study(study_name="base.final", storage=url))  # final-report wrote it
    assert "one seeded retraining" in note
    assert all(f"| {recipe} | 2 | {mean:.2f} ± " in note for recipe, mean in means.items()), note


def test_status_of_an_empty_storage_says_there_are_no_studies(tmp_path, data_dir):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    StorageHandle.resolve(url=url).open()  # an Optuna database without any study
    result = run_cli(["status", "--storage", url], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "no studies" in result.stdout
    assert "pairsearch tune" in result.stdout


def test_status_of_a_missing_file_is_an_error_not_a_new_database(tmp_path, data_dir):
    result = run_cli(["status", "--storage", f"sqlite:///{tmp_path / 'typo.db'}"], data_dir=data_dir)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "typo.db").exists()


def postgres_catalog(url: str) -> list[tuple]:
    """Every table and column of the database's public schema (what 'unchanged' means there)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2")).fetchall()
    engine.dispose()
    return [tuple(row) for row in rows]


@pytest.mark.postgres
def test_status_of_a_database_without_optuna_is_refused_and_creates_nothing(data_dir, pg_url):
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_url)
    with engine.begin() as connection:  # another application's database
        connection.execute(sqlalchemy.text("CREATE TABLE invoices (id integer)"))
    engine.dispose()
    before = postgres_catalog(pg_url)
    for command in (["status"], ["final-report", "--workers", "1"]):
        result = run_cli([*command, "--storage", pg_url], data_dir=data_dir)
        assert result.returncode == 2 and "no Optuna storage" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert postgres_catalog(pg_url) == before == [("invoices", "id")]


@pytest.mark.postgres
def test_status_hides_the_password(data_dir, pg_url):
    StorageHandle.resolve(url=pg_url).open()  # Optuna's tables, no study
    with_password = pg_url.replace("postgres@", "postgres:s3cretpw@", 1)  # trust auth ignores it
    result = run_cli(["status", "--storage", with_password], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "s3cretpw" not in result.stdout + result.stderr
    assert "no studies" in result.stdout


def test_status_reads_each_trial_at_most_once(tmp_path, monkeypatch):
    """On the one-search run: counts by SQL, each best trial and each final job read once."""
    db = copy_one_search_run(tmp_path)
    storage = StorageHandle.resolve(url=f"sqlite:///{db}").open(readonly=True)
    reads = Counter()
    read_all, read_one, read_together = storage.get_all_trials, storage.get_trial, sql_reads.read_trials

    def all_trials(study_id, deepcopy=True, states=None):
        trials = read_all(study_id, deepcopy=deepcopy, states=states)
        reads.update(trial._trial_id for trial in trials)
        return trials

    def one_trial(trial_id):
        reads[trial_id] += 1
        return read_one(trial_id)

    def trials_together(**kwargs):
        found = read_together(**kwargs)
        reads.update(trial._trial_id for trials in found.values() for trial in trials)
        return found

    storage.get_all_trials, storage.get_trial = all_trials, one_trial
    monkeypatch.setattr(sql_reads, "read_trials", trials_together)
    studies = overview.read_overview(storage=storage)
    assert len(studies) == 14 and max(reads.values()) == 1
    assert len(reads) < 300  # the final jobs and the tuning trials they name, not 1400 tuning trials


# --- the helpers behind the live display ------------------------------------------------------


def test_status_rows_count_states(tmp_path, pools):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    add_study(url=url, name="a", arch="base", tmp_path=tmp_path, pools=pools, complete=2, failed=3)
    (row,) = overview.read_overview(storage=StorageHandle.resolve(url=url).open())
    assert (row.name, row.arch, row.recipe_name) == ("a", "base", "course")
    assert row.counts == Counter({TrialState.COMPLETE: 2, TrialState.FAIL: 3})
    assert row.best.value == pytest.approx(0.51) and row.best.params == {"channels": 5}


def test_progress_line_and_eta():
    shot = supervisor.Snapshot(runtime.Counts(complete=3, pruned=2, failed=1, running=2), 0.91234, {"lr": 0.00123})
    line = progress.progress_line(name="base", shot=shot, budget=10, elapsed=50, eta="50s")
    assert "finished 5/10" in line and "pruned 2" in line and "failed 1" in line and "running 2" in line
    assert "best 91.23 %" in line  # in percent, as status and the report show accuracies
    assert progress.eta_text(done_here=5, remaining=5, elapsed=50) == "50s"
    assert progress.eta_text(done_here=0, remaining=5, elapsed=50) == "—"
    assert progress.eta_text(done_here=5, remaining=0, elapsed=50) == "—"
    assert progress.format_params({"lr": 0.00123, "channels": 32, "batchnorm": True}) == (
        "lr=0.00123 channels=32 batchnorm=True"
    )


def test_status_reads_a_journal_storage_through_optunas_api(tmp_path):
    """No SQL there: each study's trials read once, counted and ranked in Python."""
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(study_name="other", storage=storage, direction="maximize")
    for value in (0.25, 0.75):
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    (row,) = overview.read_overview(storage=storage)
    assert (row.name, row.arch, row.recipe_name, row.is_final) == ("other", "?", "", False)
    assert row.counts == Counter({TrialState.COMPLETE: 2, TrialState.FAIL: 1}) and row.best.value == 0.75
    assert progress.status_cells(study=row) == [("—", row.counts, "75.00 %")]


@pytest.mark.postgres
def test_status_counts_a_postgres_storage_in_one_query(tmp_path, pools, pg_url):
    add_study(url=pg_url, name="a", arch="base", tmp_path=tmp_path, pools=pools, complete=2, failed=1)
    (row,) = overview.read_overview(storage=StorageHandle.resolve(url=pg_url).open(readonly=True))
    assert row.counts == Counter({TrialState.COMPLETE: 2, TrialState.FAIL: 1})
    assert row.best.value == pytest.approx(0.51) and row.recipe_name == "course"
