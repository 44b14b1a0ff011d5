"""Where the runs ran — each final job, each tuning worker —, which commit they ran, and what the report shows of it."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import label_tuned

from pairsearch import __version__
from pairsearch.records import record_tuning_worker
from pairsearch.report.facts import WRITER_KEYS
from pairsearch.report.provenance import TUNING_RECORD_ROWS, tuning_table
from pairsearch.report.results import PROVENANCE_KEYS
from pairsearch.report.run_record import FACT_COLUMNS, NOT_RECORDED
from pairsearch.report.studies import read_studies
from pairsearch.report.writer import write_report
from pairsearch.version import (
    COMMIT_ENV,
    DIRTY_SUFFIX,
    ProcessRecord,
    checked_out_commit,
    cpu_model,
    git_commit,
)
from pairsearch.workers.final_worker import run_provenance

ROOT = Path(__file__).resolve().parents[1]


def test_each_job_records_version_commit_machine_threads_and_dates():
    torch = pytest.importorskip("torch")
    facts = run_provenance(device=torch.device("cpu"), started="2026-12-01T10:00:00Z",
                           finished="2026-12-01T10:05:00Z")
    assert set(facts) == set(PROVENANCE_KEYS)
    assert facts["pairsearch"] == __version__
    assert facts["commit"] == git_commit(ROOT)
    assert facts["gpu"] == "none" and facts["device"] == "cpu"
    assert facts["cpu"] == cpu_model() and facts["cpu"]
    assert facts["threads"] == torch.get_num_threads()
    assert facts["worker"].startswith(f"{facts['host']}:")
    assert (facts["started"], facts["finished"]) == ("2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z")
    json.dumps(facts)  # stored as a user attr: JSON only


def results(**columns) -> pd.DataFrame:
    rows = [{"arch": arch, "search": 0, "seed": seed, "test_accuracy": 0.8 + 0.01 * seed + 0.02 * index,
             "status": "completed", "seconds": 2.0, "n_parameters": 1000, "params": "{}"}
            for index, arch in enumerate(["base", "sep"]) for seed in range(3)]
    frame = pd.DataFrame(rows)
    for name, values in columns.items():
        frame[name] = values
    return frame


def runs_section(tmp_path, frame: pd.DataFrame, protocol: dict | None = None) -> str:
    page = write_report(out_dir=tmp_path, results=frame, curves=pd.DataFrame(
        columns=["arch", "search", "seed", "epoch", "train_loss", "train_accuracy", "test_accuracy",
                 "digit_accuracy"]), protocol=protocol or {}, studies={})["report_html"].read_text()
    return page[page.index('<section id="runs">'):page.index('<section id="tuning">')]


def test_the_report_shows_run_dates_as_a_range_workers_and_reruns(tmp_path):
    frame = results(
        started=[f"2026-12-0{1 + i % 2}T1{i}:00:00Z" for i in range(6)],
        finished=[f"2026-12-0{1 + i % 2}T1{i}:30:00Z" for i in range(6)],
        worker=["node-1:11", "node-1:12", "node-2:7", "node-1:11", "node-1:12", "node-2:7"],
        reruns=[0, 1, 0, 0, 2, 0], commit="abc1234", threads=1.0, gpu="none",
    )
    section = runs_section(tmp_path, frame)
    assert "<td>run dates (UTC)</td><td>2026-12-01 10:00 – 2026-12-02 15:30</td>" in section
    assert "<td>workers</td><td>3 worker processes</td>" in section
    # Two jobs failed, one of them twice: jobs are counted, not their failed attempts.
    assert "<td>failed and re-run</td><td>2 jobs failed (interrupted, or a worker died) and ran again</td>" in section
    assert "<td>commit</td><td>abc1234 (all 6 jobs)</td>" in section
    assert "<td>threads</td><td>1 (all 6 jobs)</td>" in section


def test_old_jobs_show_not_recorded_and_nothing_from_the_writing_process(tmp_path):
    section = runs_section(tmp_path, results(), protocol={
        WRITER_KEYS[0]: "pairsearch 9.9.9 (commit fffffff)", WRITER_KEYS[1]: "2030-01-01 00:00", "epochs": 3})
    jobs = section[:section.index("Process that wrote this report")]
    for fact in [*FACT_COLUMNS, "run dates (UTC)", "workers"]:
        assert f"<td>{fact}</td><td>not recorded (these jobs predate per-job records)</td>" in jobs, fact
    assert "<td>failed and re-run</td><td>not recorded</td>" in jobs
    assert "9.9.9" not in jobs and "2030" not in jobs
    writer = section[section.index("Process that wrote this report"):]
    assert f"<td>{WRITER_KEYS[0]}</td><td>pairsearch 9.9.9 (commit fffffff)</td>" in writer
    assert "<td>epochs</td>" not in writer


def test_docs_name_the_keys_the_code_records_and_shows():
    docs = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    for key in [*PROVENANCE_KEYS, *WRITER_KEYS]:
        assert re.search(rf"`{re.escape(key)}`", docs), key


def _tuning_facts(*, name: str, sampler: dict, seeding: str):
    from pairsearch.report.facts import TuningFacts

    return TuningFacts(study_name=name, arch="base", states={}, epochs=None, training_seconds=None,
                       wall_seconds=None, best_number=None, best_value=None,
                       spec={"epochs": 10, "sampler": sampler, "pruner": {"name": "median"}}, versions=None,
                       recipe_name="course", recipe_augmentation="no augmentation", sampler_seeding=seeding)


def test_the_sampler_row_says_how_each_search_was_seeded_and_only_the_settings_it_uses():
    from pairsearch.report.provenance import settings_table
    from pairsearch.searches import sampler_seeding

    random = {"name": "random", "n_startup_trials": 10}  # the parser stores TPE's default for every sampler
    studies = {
        "base": _tuning_facts(name="base", sampler=random, seeding=sampler_seeding(sampler_seed=None, search=0)),
        "base.search1": _tuning_facts(name="base.search1", sampler=random,
                                      seeding=sampler_seeding(sampler_seed=None, search=1)),
        "tpe": _tuning_facts(name="tpe", sampler={"name": "tpe", "n_startup_trials": 20, "seed": 3},
                             seeding=sampler_seeding(sampler_seed=3, search=0)),
    }

    table = settings_table(studies=studies, archs=list(studies))

    assert "random; unseeded" in table
    assert "random; seeded per trial from the study seed, the search number and the trial number" in table
    assert "tpe (n_startup_trials 20); seeded per trial: sampler seed 3 + trial number" in table
    assert "random (n_startup_trials" not in table


# --- which commit runs: .git, uncommitted changes, the image build's fallback -----------------


def test_outside_a_checkout_the_commit_is_the_one_the_image_build_passed(tmp_path, monkeypatch):
    monkeypatch.setenv(COMMIT_ENV, "abc1234")
    assert git_commit(tmp_path) == "abc1234"
    monkeypatch.setenv(COMMIT_ENV, "")
    assert git_commit(tmp_path) is None
    monkeypatch.delenv(COMMIT_ENV)
    assert git_commit(tmp_path) is None


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A git checkout with a committed package file and a committed storage file."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv(COMMIT_ENV, "fffffff")  # a checkout's own commit wins over the fallback
    (tmp_path / "pairsearch").mkdir()
    (tmp_path / "pairsearch" / "code.py").write_text("A = 1\n")
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "pairsearch.db").write_text("rows\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_checkout_with_uncommitted_code_changes_runs_a_dirty_commit(checkout):
    head = checked_out_commit(checkout)
    assert head and len(head) == 7
    assert git_commit(checkout) == head
    (checkout / "storage" / "pairsearch.db").write_text("rows a run wrote\n")  # a run's storage: not code
    assert git_commit(checkout) == head
    (checkout / "pairsearch" / "code.py").write_text("A = 2\n")
    assert git_commit(checkout) == head + DIRTY_SUFFIX


# --- what each tuning worker recorded, in the tuning table -------------------------------------


def process(**changes) -> ProcessRecord:
    facts = {"device": "cpu", "gpu": "none", "cpu": "Test CPU", "host": "node-1", "worker": "node-1:11",
             "threads": 1, "pairsearch": "0.1.0", "commit": "abc1234", "optuna": "4", "torch": "2", "python": "3.11"}
    return ProcessRecord(**{**facts, **changes})


def tuning_rows(studies: dict[str, optuna.Study]) -> dict[str, list[str]]:
    """The tuning table's rows by their first cell, each study's cell text after it."""
    facts = read_studies(studies=studies)
    final = pd.DataFrame(columns=["final_mean", "final_minus_best", "n_parameters", "mean_seconds"])
    table = tuning_table(studies=facts, tuning=final, archs=list(studies))
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.DOTALL)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL) for row in rows]
    return {row[0]: row[1:] for row in cells if row}


def test_the_tuning_table_shows_each_study_s_workers_and_where_they_differ():
    study = label_tuned(optuna.create_study(), arch="base")
    record_tuning_worker(study, record=process(started="2026-12-01T10:00:00Z", finished="2026-12-01T11:30:00Z"))
    record_tuning_worker(study, record=process(worker="node-2:7", commit="def5678", started="2026-12-01T09:50:00Z",
                                               finished="2026-12-01T10:20:00Z"))

    rows = tuning_rows({"base": study})

    assert rows[TUNING_RECORD_ROWS["commit"]] == ["abc1234 (1 worker); def5678 (1 worker)"]
    assert rows[TUNING_RECORD_ROWS["cpu"]] == ["Test CPU"]
    assert rows[TUNING_RECORD_ROWS["threads"]] == ["1"]
    assert rows["Tuning workers"] == ["2 worker processes"]
    assert rows["Tuning dates"] == ["2026-12-01 09:50 – 2026-12-01 11:30 UTC"]


def test_a_study_tuned_before_worker_records_shows_not_recorded():
    old = label_tuned(optuna.create_study(), arch="base")  # the record tune wrote before worker records
    old.set_user_attr("tuning worker half a record", {"commit": "abc1234"})  # not a whole record: left out

    rows = tuning_rows({"base": old})

    for name in [*TUNING_RECORD_ROWS.values(), "Tuning workers", "Tuning dates"]:
        assert rows[name] == [NOT_RECORDED], name


def test_a_study_without_worker_records_is_dated_by_its_trials_and_says_so():
    study = label_tuned(optuna.create_study(direction="maximize"), arch="base")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    first = study.trials[0].datetime_start.strftime("%Y-%m-%d %H:%M")
    last = study.trials[-1].datetime_complete.strftime("%Y-%m-%d %H:%M")

    (cell,) = tuning_rows({"base": study})["Tuning dates"]

    assert cell.startswith(f"{first} – {last}<br>") and "trials&#x27; times (the workers&#x27; clock)" in cell


def test_a_protocol_row_says_once_a_value_every_study_shares():
    """29 studies of 200 trials read as one fact, not 29 repeats; different values each stay named."""
    from pairsearch.report.protocol import per_study

    assert per_study({"base": 200, "base.search1": 200, "sep": 200}) == "200 in each of the 3 studies"
    assert per_study({"base": 10, "sep": 12}) == "base 10, sep 12"
    assert per_study({"base": 10}) == "base 10"
