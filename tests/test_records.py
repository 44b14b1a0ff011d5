"""Typed records of what a study holds: round trips, storages from before records, corrupted attrs."""

from __future__ import annotations

import json

import pytest

from pairsearch.errors import PairsearchError
from pairsearch.records import MARKER, SCHEMA_VERSION, FinalJob, TunedStudy

RECORD = TunedStudy(
    arch="base", spec=json.dumps({"arch": "base", "seed": 0}), spec_hash="abc", epochs=10,
    data_source="mnist5k", data_fingerprint="f00d", versions={"pairsearch": "0.1.0"},
    recipe_record={"name": "course", "epochs": 10, "hash": "h"}, group="base", search=2, tuning_seed=123456789,
)


def test_a_tuned_study_round_trips_through_its_attrs_with_the_marker_last():
    attrs = RECORD.to_attrs()
    assert list(attrs)[-1] == MARKER
    assert attrs["schema"] == SCHEMA_VERSION
    assert TunedStudy.from_attrs(attrs, study_name="base.search2") == RECORD


def test_a_final_job_round_trips_through_the_attrs_jobs_have_always_stored():
    job = FinalJob(seed=1000, arch="base", params={"lr": 0.01}, epochs=3, config_hash="c0ffee", data_source="mnist5k",
                   data_fingerprint="f00d", best_trial=4, recipe_record={"name": "strong", "epochs": 25, "hash": "h"})
    attrs = job.to_attrs()
    assert list(attrs) == ["seed", "arch", "params", "epochs", "config_hash", "data_source", "data_fingerprint",
                           "best_trial", "recipe"]
    assert attrs["recipe"] == job.recipe_record
    assert FinalJob.from_attrs(attrs) == job
    legacy = {key: value for key, value in attrs.items() if key != "recipe"}
    assert FinalJob.from_attrs(legacy) == FinalJob(**{**vars(job), "recipe_record": None})
    assert FinalJob.from_attrs({key: value for key, value in attrs.items() if key != "epochs"}) is None


def test_a_study_from_before_records_reads_with_the_defaults_it_implied():
    """Schema 1 (the committed storages): no schema, no search, no recipe for the course's training."""
    old = {key: value for key, value in RECORD.to_attrs().items()
           if key not in ("schema", "recipe", "search_group", "search", "tuning_seed")}
    old["spec"] = json.dumps({"arch": "base", "seed": 7})
    record = TunedStudy.from_attrs(old, study_name="base")
    assert (record.schema, record.recipe_record, record.group, record.search, record.tuning_seed) == (1, None, "base", 0, 7)


@pytest.mark.parametrize(("edit", "message"), [
    ({"spec": "{not json"}, r"^study 'base': user attr 'spec' is not a JSON table$"),
    ({"epochs": "ten"}, r"^study 'base': user attr 'epochs' is not int: 'ten'$"),
    ({"epochs": True}, r"^study 'base': user attr 'epochs' is not int: True$"),
    ({"search": 1.5}, r"^study 'base': user attr 'search' is not int: 1.5$"),
])
def test_a_corrupted_attr_is_one_line_naming_the_study_and_the_attr(edit, message):
    with pytest.raises(PairsearchError, match=message):
        TunedStudy.from_attrs({**RECORD.to_attrs(), **edit}, study_name="base")


def test_a_missing_attr_is_one_line_too():
    attrs = RECORD.to_attrs()
    del attrs["epochs"]
    with pytest.raises(PairsearchError, match=r"^study 'x': user attr 'epochs' is missing \(hand-edited or corrupted\)$"):
        TunedStudy.from_attrs(attrs, study_name="x")
