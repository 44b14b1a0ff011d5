"""Independent repeated searches: their study names and their seeds.

``tune --repeats K`` makes K independent searches of one arch, each its own study with its own
exact budget. Search 0 is the study ``tune`` has always made (named after the arch, or
``--study``), with the study file's seeds as before; search r ≥ 1 is the study
``<name>.search<r>``, whose tuning seed (training/validation pairs, initial weights, batch order)
and sampler stream are drawn from one NumPy ``SeedSequence`` keyed by r: no two searches share
draws, and search r of every arch draws the same tuning split, so search r of every arch is one
replicate of the whole experiment.

The final stage's seeds are disjoint from every tuning seed (:func:`final_seeds`): a final run
never re-uses the training pairs, initial weights and batch order that chose its configuration.
"""

from __future__ import annotations

import math
import re

import numpy as np

from pairsearch.defaults import MAX_SEED

SEARCH_SUFFIX = ".search"
FINAL_SUFFIX = ".final"  # a tuned study's final jobs live in the study <name>.final
_SEARCH_NAME = re.compile(r"^(?P<group>.+)\.search(?P<index>[1-9][0-9]*)$")
# The entropy of every derived seed: a fixed number, so a search's draws are reproducible.
SEARCH_ENTROPY = 20261202
# Derived seeds lie at or above this; the study files' seeds and the final seeds lie below.
DERIVED_SEED_FLOOR = 2**20
FINAL_FIRST_SEED = 1000  # final seeds are 1000, 1001, …: apart from the study files' seed 0
FINAL_RUNS_PER_ARCH = 15  # the final budget per arch when no --seeds is given
MIN_SEEDS_PER_SEARCH = 3  # enough to estimate the seed variance inside a search
MAX_REPEATS = 100


def search_study_name(*, group: str, search: int) -> str:
    """The study of search ``search`` of the group ``group`` (search 0 is the group's own name)."""
    return group if search == 0 else f"{group}{SEARCH_SUFFIX}{search}"


def split_search_name(name: str) -> tuple[str, int]:
    """``base.search3`` → (``base``, 3); any other name → (name, 0)."""
    match = _SEARCH_NAME.match(name)
    return (match["group"], int(match["index"])) if match else (name, 0)


def tuning_seed(*, study_seed: int, search: int) -> int:
    """The seed of search ``search``'s tuning split, initial weights and batch order."""
    return study_seed if search == 0 else _derive(study_seed, search, 0)


def trial_sampler_seed(*, sampler_seed: int | None, study_seed: int, search: int, trial_number: int) -> int | None:
    """The sampler's seed for one trial of one search.

    Search 0 keeps the study file's rule (its ``[sampler] seed`` plus the trial number, or no
    seed). Search r ≥ 1 always draws a seed of its own per trial, so its stream is reproducible
    and shares no draw with another search's.
    """
    if search == 0:
        return None if sampler_seed is None else sampler_seed + trial_number
    return _derive(study_seed, search, 1, sampler_seed or 0, trial_number)


def sampler_seeding(*, sampler_seed: int | None, search: int) -> str:
    """How :func:`trial_sampler_seed` seeds one search's sampler, in words for the report."""
    if search == 0:
        return "unseeded" if sampler_seed is None else f"seeded per trial: sampler seed {sampler_seed} + trial number"
    return "seeded per trial from the study seed, the search number and the trial number"


def final_seeds(count: int) -> list[int]:
    """The final stage's seeds: the same for every arch and every search, apart from tuning's."""
    return list(range(FINAL_FIRST_SEED, FINAL_FIRST_SEED + count))


def default_seeds_per_search(*, searches: int) -> int:
    """Seeds per search when ``--seeds`` is not given: 15 runs per arch, at least 3 per search.

    Between-search spread (≈ 1 point here) dwarfs the seed noise of a search's mean (≈ 0.8 /
    √S points), so runs buy more precision as searches than as seeds; 3 seeds still measure
    the seed variance inside each search. One search keeps today's 15 seeds.
    """
    return max(MIN_SEEDS_PER_SEARCH, math.ceil(FINAL_RUNS_PER_ARCH / max(searches, 1)))


def _derive(*key: int) -> int:
    """One seed in [:data:`DERIVED_SEED_FLOOR`, MAX_SEED] drawn from the seed sequence at ``key``."""
    state = np.random.SeedSequence(entropy=SEARCH_ENTROPY, spawn_key=key).generate_state(1, dtype=np.uint64)[0]
    return DERIVED_SEED_FLOOR + int(state) % (MAX_SEED - DERIVED_SEED_FLOOR)
