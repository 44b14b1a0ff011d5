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
