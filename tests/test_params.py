"""Hyperparameter ranges: parsing ``--set`` text and checking values."""

from __future__ import annotations

import pytest

from pairsearch.errors import PairsearchError
from pairsearch.training.params import PARAM_RANGES, check_value, parse_assignment, parse_value


def test_every_param_has_a_kind_and_a_range():
    assert set(PARAM_RANGES) == {
        "channels", "hidden", "lr", "dropout", "batchnorm", "aux_weight", "batch_size", "weight_decay",
    }
    for allowed in PARAM_RANGES.values():
        assert allowed.kind in (int, float, bool)
        if allowed.kind is not bool:
            assert allowed.low < allowed.high


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("channels", "4", 4),
        ("channels", "256", 256),
        ("channels", "32.0", 32),
        ("hidden", " 64 ", 64),
        ("batch_size", "1e2", 100),
        ("lr", "0.002", 0.002),
        ("lr", "1e-3", 1e-3),
        ("lr", "1", 1.0),
        ("dropout", "0", 0.0),
        ("dropout", "0.8", 0.8),
        ("aux_weight", "100", 100.0),
        ("weight_decay", "0.0", 0.0),
        ("batchnorm", "true", True),
        ("batchnorm", "false", False),
        ("batchnorm", "True", True),
        ("batchnorm", "FALSE", False),
    ],
)
def test_parse_value_gives_the_params_type(name, raw, expected):
    value = parse_value(name=name, raw=raw)
    assert value == expected
    assert type(value) is PARAM_RANGES[name].kind


def refusal(*, name: str, raw: str, range_text: str) -> str:
    """``parse_value``'s error for ``raw``, checked to name the param and its range."""
    with pytest.raises(PairsearchError) as caught:
        parse_value(name=name, raw=raw)
    message = str(caught.value)
    assert name in message and range_text in message, message
    return message


@pytest.mark.parametrize(
    ("name", "raw", "range_text"),
    [
        ("channels", "3", "int in [4, 256]"),
        ("channels", "257", "int in [4, 256]"),
        ("hidden", "2048", "int in [8, 1024]"),
        ("lr", "0", "float in [1e-06, 1]"),
        ("lr", "1.5", "float in [1e-06, 1]"),
        ("lr", "-0.1", "float in [1e-06, 1]"),
        ("dropout", "0.9", "float in [0, 0.8]"),
        ("aux_weight", "101", "float in [0, 100]"),
        ("batch_size", "0", "int in [1, 1000]"),
        ("weight_decay", "-1", "float in [0, 1]"),
    ],
)
def test_out_of_range_value_names_param_and_range(name, raw, range_text):
    assert "out of range" in refusal(name=name, raw=raw, range_text=range_text)


@pytest.mark.parametrize(
    ("name", "raw", "range_text"),
    [
        ("channels", "abc", "int in [4, 256]"),
        ("channels", "4.5", "int in [4, 256]"),
        ("channels", "", "int in [4, 256]"),
        ("lr", "fast", "float in [1e-06, 1]"),
        ("lr", "0.1.2", "float in [1e-06, 1]"),
        ("batchnorm", "maybe", "true or false"),
        ("batchnorm", "2", "true or false"),
        ("hidden", "1e400", "int in [8, 1024]"),
    ],
)
def test_unparsable_value_names_param_and_range(name, raw, range_text):
    assert repr(raw) in refusal(name=name, raw=raw, range_text=range_text)


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e400"])
@pytest.mark.parametrize("name", ["lr", "aux_weight", "channels"])
def test_non_finite_values_are_rejected(name, raw):
    with pytest.raises(PairsearchError, match=name):
        parse_value(name=name, raw=raw)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_check_value_rejects_non_finite_floats(value):
    with pytest.raises(PairsearchError, match="lr"):
        check_value(name="lr", value=value)


def test_check_value_converts_between_int_and_float():
    assert check_value(name="channels", value=8.0) == 8 and type(check_value(name="channels", value=8.0)) is int
    assert check_value(name="lr", value=1) == 1.0 and type(check_value(name="lr", value=1)) is float
    assert check_value(name="batchnorm", value=False) is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("channels", 8.5),
        ("channels", True),  # a bool is not a count
        ("lr", True),
        ("batchnorm", 1),  # nor a count a bool
        ("batchnorm", "true"),  # check_value takes values, parse_value takes text
        ("channels", "8"),
        ("hidden", None),
        pytest.param("channels", 10**400, id="channels-huge-int"),  # no OverflowError
        pytest.param("lr", 10**400, id="lr-huge-int"),
    ],
)
def test_check_value_rejects_wrong_types(name, value):
    with pytest.raises(PairsearchError, match=name):
        check_value(name=name, value=value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lr=0.002", ("lr", "0.002")), (" channels = 8 ", ("channels", "8")), ("a=b=c", ("a", "b=c"))],
)
def test_parse_assignment_splits_name_and_value(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["lr", "lr=", "=0.1", "=", " = ", "", "lr 0.1"])
def test_malformed_assignment_says_what_it_should_look_like(text):
    with pytest.raises(PairsearchError) as caught:
        parse_assignment(text)
    assert "name=value" in str(caught.value) and repr(text) in str(caught.value)


@pytest.mark.parametrize("name", ["depth", "", "Channels", "lr\n"])
def test_an_unknown_name_is_one_line_not_a_key_error(name):
    """Found by the fuzzer (tests/test_fuzz_params.py): both raised KeyError for an unknown name."""
    for call in (lambda: parse_value(name=name, raw="1"), lambda: check_value(name=name, value=1)):
        with pytest.raises(PairsearchError) as caught:
            call()
        message = str(caught.value)
        assert f"unknown param {name!r}" in message and "channels" in message and message.isprintable()
