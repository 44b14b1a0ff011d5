"""Hypothesis profiles for the property-based tests, and a way to run a property under each.

Every property runs twice: under ``quick`` in the unit suite (seconds; the same examples every
run, so the unit suite never flakes) and under ``thorough`` in ``.ci/run``'s slow stage
(``pytest -m slow``: many more examples, fresh ones every run). ``PAIRSEARCH_FUZZ_EXAMPLES``
sets the thorough profile's number of examples for a longer hunt::

    PAIRSEARCH_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -m slow tests/test_fuzz_*.py

No example database is written (``database=None``): a failure prints the smallest example and
a ``@reproduce_failure`` blob instead, and the example is then kept as a regular test.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pairsearch.training.params import PARAM_RANGES

settings.register_profile(
    "quick", max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=int(os.environ.get("PAIRSEARCH_FUZZ_EXAMPLES", "1000")), deadline=None,
    database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow],
)

# Parametrize a test with this: its quick run is a unit test, its thorough run is slow.
PROFILES = [
    pytest.param("quick", id="quick"),
    pytest.param("thorough", id="thorough", marks=pytest.mark.slow),
]


def check_property(*, profile: str, strategy, check) -> None:
    """Run ``check(example)`` on examples of ``strategy`` under the named profile.

    ``check`` fails by raising (an assertion, or any exception the code under test lets out);
    what it returns is ignored.
    """

    def run(example) -> None:
        check(example)

    settings(settings.get_profile(profile))(given(strategy)(run))()


def file_contents(*, max_bytes: int, max_chars: int, edited) -> list:
    """What a generated file holds, as bytes, one ``pytest.param`` a kind (parametrize a test with
    it): random bytes, random text (UTF-8), and ``edited``'s texts (valid files with random edits)."""
    return [
        pytest.param(st.binary(max_size=max_bytes), id="random-bytes"),
        pytest.param(st.text(max_size=max_chars).map(str.encode), id="random-text"),
        pytest.param(edited.map(str.encode), id="edited"),
    ]


def values_in_range(name: str):
    """Values of the hyperparameter ``name`` that its range takes."""
    allowed = PARAM_RANGES[name]
    if allowed.kind is bool:
        return st.booleans()
    if allowed.kind is int:
        return st.integers(int(allowed.low), int(allowed.high))
    return st.floats(allowed.low, allowed.high)
