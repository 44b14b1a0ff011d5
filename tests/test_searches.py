"""Independent repeated searches: study names, derived seeds, final seeds and the default split."""

from __future__ import annotations

import pytest

from pairsearch import searches
from pairsearch.defaults import MAX_SEED


@pytest.mark.parametrize(("group", "search", "name"), [
    ("base", 0, "base"), ("base", 3, "base.search3"), ("my.study", 12, "my.study.search12")])
def test_names_round_trip(group, search, name):
    assert searches.search_study_name(group=group, search=search) == name
    assert searches.split_search_name(name) == (group, search)


@pytest.mark.parametrize("name", ["base.search0", "base.search01", "base.searchx", "base.search"])
def test_names_that_are_no_search_are_search_zero_of_themselves(name):
    assert searches.split_search_name(name) == (name, 0)


def test_search_zero_keeps_the_study_file_seeds_and_the_others_are_derived_apart():
    assert searches.tuning_seed(study_seed=5, search=0) == 5
    derived = [searches.tuning_seed(study_seed=0, search=r) for r in range(1, 200)]
    assert len(set(derived)) == len(derived)
    assert all(searches.DERIVED_SEED_FLOOR <= seed <= MAX_SEED for seed in derived)
    assert searches.tuning_seed(study_seed=0, search=3) == searches.tuning_seed(study_seed=0, search=3)
    assert searches.tuning_seed(study_seed=1, search=3) != searches.tuning_seed(study_seed=0, search=3)


def test_trial_sampler_seeds_of_two_searches_never_meet():
    seeds = {r: {searches.trial_sampler_seed(sampler_seed=None, study_seed=0, search=r, trial_number=n)
                 for n in range(300)} for r in (1, 2, 3)}
    assert all(len(found) == 300 for found in seeds.values())
    assert not (seeds[1] & seeds[2] or seeds[1] & seeds[3] or seeds[2] & seeds[3])
    assert searches.trial_sampler_seed(sampler_seed=None, study_seed=0, search=0, trial_number=4) is None
    assert searches.trial_sampler_seed(sampler_seed=10, study_seed=0, search=0, trial_number=4) == 14


def test_final_seeds_lie_apart_from_every_tuning_seed_of_the_shipped_files():
    final = set(searches.final_seeds(1000))
    assert min(final) == searches.FINAL_FIRST_SEED > 0  # the study files' seed 0 is no final seed
    assert max(final) < searches.DERIVED_SEED_FLOOR
    assert searches.final_seeds(3) == [1000, 1001, 1002]


@pytest.mark.parametrize(("searches_per_arch", "seeds"), [(1, 15), (2, 8), (3, 5), (5, 3), (10, 3)])
def test_default_split_of_the_final_budget(searches_per_arch, seeds):
    assert searches.default_seeds_per_search(searches=searches_per_arch) == seeds
