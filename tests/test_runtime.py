"""The worker runtime both stages stand on: taking over a study another process is making, and
the heartbeat sweep's trials nobody runs any more."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from pairsearch.errors import PairsearchError
from pairsearch.records import FinalJob, enqueue_job, final_job
from pairsearch.storage.handle import StorageHandle
from pairsearch.workers import runtime


def unlabelled(tmp_path) -> tuple[str, optuna.Study]:
    """An empty maximize study, as another process leaves it between creating and labelling it."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    return url, optuna.create_study(study_name="s", storage=url, direction="maximize")


def take(url: str, *, locked: bool) -> optuna.Study:
    return runtime.own_study(storage=url, study_name="s", label=lambda study: pytest.fail("made anew"),
                             refusal="not pairsearch's", locked=locked)


def test_without_a_lock_a_study_being_labelled_is_waited_for(tmp_path):
    url, study = unlabelled(tmp_path)
    labeller = threading.Timer(0.5, lambda: study.set_user_attr("pairsearch", True))
    labeller.start()

    taken = take(url, locked=False)  # gRPC: the maker may still be labelling it

    labeller.join()
    assert taken.user_attrs["pairsearch"] is True


def test_under_a_lock_an_empty_unlabelled_study_is_adopted_not_refused_for_good(tmp_path):
    url, _ = unlabelled(tmp_path)  # a command killed between making the study and labelling it
    labelled = []
    adopted = runtime.own_study(storage=url, study_name="s", label=labelled.append, refusal="not pairsearch's",
                                locked=True)
    assert [study.study_name for study in labelled] == ["s"] and adopted.study_name == "s"


def test_without_a_lock_an_unlabelled_study_left_so_says_what_to_do(tmp_path, monkeypatch):
    url, _ = unlabelled(tmp_path)
    monkeypatch.setattr(runtime, "LABEL_WAIT_SECONDS", 0.0)
    with pytest.raises(PairsearchError, match="never labelled .*optuna delete-study --study-name s .*another --study"):
        take(url, locked=False)


def test_under_a_lock_a_minimize_study_is_still_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    optuna.create_study(study_name="s", storage=url)  # plain Optuna's default direction
    with pytest.raises(PairsearchError, match="not pairsearch's"):
        take(url, locked=True)


def test_without_a_lock_a_study_with_trials_is_no_study_being_made(tmp_path):
    url, study = unlabelled(tmp_path)
    study.add_trial(optuna.trial.create_trial(value=1.0))
    with pytest.raises(PairsearchError, match="not pairsearch's"):
        take(url, locked=False)


def test_a_study_another_process_made_since_we_looked_is_joined_not_a_crash(tmp_path):
    url, made_by_the_other = unlabelled(tmp_path)  # it found no study either, and created it first

    joined, made = runtime.create_or_join(storage=url, study_name="s")

    assert not made and joined._study_id == made_by_the_other._study_id


# --- the heartbeat sweep ---------------------------------------------------------------------


def beating_handle(tmp_path) -> StorageHandle:
    """An SQLite storage as workers open it, with a heartbeat every second (grace 3 s)."""
    return StorageHandle(url=f"sqlite:///{tmp_path / 'h.db'}", kind="sqlite", heartbeat_seconds=1)


def beating_study(tmp_path) -> optuna.Study:
    return optuna.create_study(study_name="h", storage=beating_handle(tmp_path).open(), direction="maximize")


def claim_one_trial(tmp_path, study: optuna.Study, objective) -> str:
    queue = runtime.WorkQueue(study=study, objective=objective, decide=lambda counts: "run")
    return runtime.claim_one(handle=beating_handle(tmp_path), queue=queue)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_that_never_beat_is_failed_and_requeued_after_the_grace_period(tmp_path):
    # As a worker leaves it when the storage goes away between creating a trial and its first
    # heartbeat: Optuna never calls a trial without a heartbeat stale, so it held the budget forever.
    study = beating_study(tmp_path)
    orphan = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})

    runtime.sweep_stale_trials(study)
    assert study.get_trials()[orphan.number].state == TrialState.RUNNING  # its worker may yet beat
    time.sleep(4.5)  # past the grace period, at SQLite's whole-second clock
    runtime.sweep_stale_trials(study)

    trials = study.get_trials()
    assert trials[orphan.number].state == TrialState.FAIL
    retries = [t for t in trials if t.state == TrialState.WAITING]
    assert [RetryHeartbeatStaleTrialCallback.retried_trial_number(t) for t in retries] == [orphan.number]


def test_a_live_trial_keeps_beating_through_the_sweeps(tmp_path):
    study = beating_study(tmp_path)
    states = []

    def objective(trial: optuna.Trial) -> float:
        for _ in range(5):
            time.sleep(1.0)
            runtime.sweep_stale_trials(study)  # another worker's sweep, while this trial trains
        states.append(study.get_trials()[trial.number].state)
        return 1.0

    assert claim_one_trial(tmp_path, study, objective) == "ran"
    assert states == [TrialState.RUNNING]
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]


def test_a_trial_failed_by_another_workers_sweep_is_given_up_quietly(tmp_path, capsys):
    # A worker whose heartbeat lapsed (a long outage) while its trial trained: another worker
    # failed and re-queued the trial; this one must not crash on telling it its result.
    study = beating_study(tmp_path)

    def objective(trial: optuna.Trial) -> float:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        study.enqueue_trial({}, user_attrs={"retry_of": trial.number})
        return 1.0

    assert claim_one_trial(tmp_path, study, objective) == "ran"
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]
    assert "trial 0 of h was failed and re-queued by another worker" in capsys.readouterr().err


def test_a_trial_failed_by_a_sweep_mid_epoch_is_given_up_quietly(tmp_path, capsys):
    study = beating_study(tmp_path)

    def objective(trial: optuna.Trial) -> float:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        trial.report(0.5, step=1)  # the next epoch's report: the trial is no longer this worker's
        return 1.0

    assert claim_one_trial(tmp_path, study, objective) == "ran"
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]
    assert "was failed and re-queued by another worker" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["final job", "tuning trial"])
def test_an_interrupted_trial_is_queued_again_with_the_job_it_ran(tmp_path, kind):
    """A final worker trains only a trial that carries its job: a retry without it failed as "no job"."""
    study = optuna.create_study(study_name="base.final", storage=f"sqlite:///{tmp_path / 'p.db'}", direction="maximize")
    job = FinalJob(seed=1001, arch="base", params={"lr": 0.01}, epochs=3, config_hash="c0ffee",
                   data_source="mnist5k", data_fingerprint="f00d", best_trial=4, recipe_record=None)
    if kind == "final job":
        enqueue_job(study, job=job)
    else:
        study.enqueue_trial({"seed": job.seed})
    trial = study.ask()  # as a worker runs it, until Ctrl-C fails it
    trial.suggest_int("seed", 0, 2**31 - 1)
    study.tell(trial, state=TrialState.FAIL)

    runtime.retry_interrupted(study=study, number=trial.number)

    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.user_attrs["retry_of"] == trial.number
    assert final_job(retry) == (job if kind == "final job" else None)
