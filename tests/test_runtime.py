"""The worker runtime both stages stand on: here, taking over a study another process is making."""

from __future__ import annotations

import threading

import optuna
import pytest

from pairsearch import runtime
from pairsearch.errors import PairsearchError


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


def test_under_a_lock_an_unlabelled_study_is_refused_at_once(tmp_path):
    url, _ = unlabelled(tmp_path)
    with pytest.raises(PairsearchError, match="not pairsearch's"):
        take(url, locked=True)


def test_without_a_lock_a_study_with_trials_is_no_study_being_made(tmp_path):
    url, study = unlabelled(tmp_path)
    study.add_trial(optuna.trial.create_trial(value=1.0))
    with pytest.raises(PairsearchError, match="not pairsearch's"):
        take(url, locked=False)
