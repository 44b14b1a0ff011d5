"""``pairsearch status`` and the progress helpers of ``tune``."""

from __future__ import annotations

import optuna
import pytest
from conftest import run_cli, write_tiny_study

from pairsearch import progress, runtime, supervisor, tuning
from pairsearch.data import DataChoice
from pairsearch.storage import StorageHandle
from pairsearch.studyspec import load_study_file


def table_row(stdout: str, study: str) -> list[str]:
    """The cells of the status table's row for ``study``."""
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.replace("┃", "│").split("│")]
        if len(cells) > 2 and cells[1] == study:
            return cells[1:-1]
    raise AssertionError(f"no row for {study!r} in:\n{stdout}")


def add_study(*, url: str, name: str, arch: str, tmp_path, pools, complete: int, failed: int) -> None:
    """A pairsearch study written in-process: ``complete`` finished and ``failed`` failed trials."""
    spec = load_study_file(path=write_tiny_study(tmp_path, arch=arch))
    job = tuning.TuneRequest(spec=spec, study_name=name, storage=StorageHandle.resolve(url=url), trials=complete, data=DataChoice(source=pools.source, data_dir=tmp_path))
    study = tuning.prepare_study(request=job, fingerprint=pools.fingerprint)
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
    assert base[1:7] == ["base", "2", "0", "0", "0", "0"]  # arch, finished, pruned, failed, running, waiting
    assert 0.0 <= float(base[7]) <= 1.0
    assert "channels=" in base[8] and "lr=" in base[8]
    wide = table_row(result.stdout, "sep_aux-wide")
    assert wide[1:7] == ["sep_aux", "3", "0", "1", "0", "0"]
    assert wide[7] == "0.5200"
    assert "no studies" not in result.stdout


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


@pytest.mark.postgres
def test_status_hides_the_password(data_dir, pg_url):
    with_password = pg_url.replace("postgres@", "postgres:s3cretpw@", 1)  # trust auth ignores it
    result = run_cli(["status", "--storage", with_password], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "s3cretpw" not in result.stdout + result.stderr
    assert "no studies" in result.stdout


# --- the helpers behind the live display ------------------------------------------------------


def test_status_rows_count_states(tmp_path, pools):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    add_study(url=url, name="a", arch="base", tmp_path=tmp_path, pools=pools, complete=2, failed=3)
    (row,) = progress.status_rows(StorageHandle.resolve(url=url).open())
    assert row["study"] == "a" and row["arch"] == "base"
    assert (row["counts"].finished, row["counts"].failed, row["counts"].running) == (2, 3, 0)
    assert row["best"] == pytest.approx(0.51)
    assert row["params"] == {"channels": 5}


def test_progress_line_and_eta():
    shot = supervisor.Snapshot(runtime.Counts(complete=3, pruned=2, failed=1, running=2), 0.91234, {"lr": 0.00123})
    line = progress.progress_line(name="base", shot=shot, budget=10, elapsed=50, eta="50s")
    assert "finished 5/10" in line and "pruned 2" in line and "failed 1" in line and "running 2" in line
    assert "0.9123" in line
    assert progress.eta_text(done_here=5, remaining=5, elapsed=50) == "50s"
    assert progress.eta_text(done_here=0, remaining=5, elapsed=50) == "—"
    assert progress.eta_text(done_here=5, remaining=0, elapsed=50) == "—"
    assert progress.format_params({"lr": 0.00123, "channels": 32, "batchnorm": True}) == (
        "lr=0.00123 channels=32 batchnorm=True"
    )
