"""Property-based tests of the ``--set name=value`` parser: a value in range, or one line.

``parse_assignment`` splits the text, ``parse_value`` reads it into the param's type and range,
``check_value`` checks a value from anywhere (a study file, a stored trial). For any text each
gives its result or one printable :class:`PairsearchError` line, never another exception; and a
value in range survives the round trip through its text. Profiles: ``tests/fuzzing.py``.
"""

from __future__ import annotations

import pytest
from fuzzing import PROFILES, check_property, values_in_range
from hypothesis import strategies as st

from pairsearch.errors import PairsearchError
from pairsearch.training.params import PARAM_RANGES, check_value, parse_assignment, parse_value

NUMBER_TEXTS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e400", "-0", "0x10", "1_000", "٣", "8.", ".5", "1e-400", "true", "No", "", " ", "8\x00"]),
)
RAW_TEXTS = st.one_of(st.text(max_size=30), NUMBER_TEXTS, st.tuples(st.text(max_size=3), NUMBER_TEXTS,
                                                                      st.text(max_size=3)).map("".join))
NAMES = st.one_of(st.sampled_from(sorted(PARAM_RANGES)), st.text(max_size=12))


def assert_one_line(error: PairsearchError, *fragments: str) -> None:
    message = str(error)
    assert message.isprintable() and message, message
    for fragment in fragments:
        assert fragment in message, message


def assignment_or_one_line(text: str) -> None:
    try:
        name, raw = parse_assignment(text)
    except PairsearchError as error:
        assert_one_line(error, "--set", "name=value")
        return
    assert name and raw and name == name.strip() and raw == raw.strip()
    assert name == text.partition("=")[0].strip() and raw == text.partition("=")[2].strip()


def value_or_one_line(example: tuple[str, str]) -> None:
    name, raw = example
    try:
        value = parse_value(name=name, raw=raw)
    except PairsearchError as error:
        assert_one_line(error, repr(name) if name not in PARAM_RANGES else name)
        return
    allowed = PARAM_RANGES[name]
    assert type(value) is allowed.kind and allowed.contains(value), (name, raw, value)


def checked_or_one_line(example: tuple[str, object]) -> None:
    name, value = example
    try:
        checked = check_value(name=name, value=value)
    except PairsearchError as error:
        assert_one_line(error)
        return
    assert type(checked) is PARAM_RANGES[name].kind and PARAM_RANGES[name].contains(checked)


def named_values_in_range():
    """(name, value): a hyperparameter and a value its range takes."""
    return st.sampled_from(sorted(PARAM_RANGES)).flatmap(lambda name: st.tuples(st.just(name), values_in_range(name)))


def round_trips(example: tuple[str, object]) -> None:
    name, value = example
    assert parse_value(name=name, raw=str(value)) == value
    assert parse_assignment(f" {name} = {value} ") == (name, str(value))


@pytest.mark.parametrize("profile", PROFILES)
def test_any_assignment_text_splits_or_is_one_line(profile):
    check_property(profile=profile, strategy=st.one_of(st.text(max_size=40), st.tuples(
        NAMES, st.sampled_from(["=", " = ", "==", ""]), RAW_TEXTS).map("".join)), check=assignment_or_one_line)


@pytest.mark.parametrize("profile", PROFILES)
def test_any_value_text_parses_into_range_or_is_one_line(profile):
    check_property(profile=profile, strategy=st.tuples(NAMES, RAW_TEXTS), check=value_or_one_line)


@pytest.mark.parametrize("profile", PROFILES)
def test_any_value_is_checked_into_range_or_is_one_line(profile):
    values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                       st.lists(st.integers(), max_size=2))
    check_property(profile=profile, strategy=st.tuples(NAMES, values), check=checked_or_one_line)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_value_in_range_survives_its_text(profile):
    check_property(profile=profile, strategy=named_values_in_range(), check=round_trips)
