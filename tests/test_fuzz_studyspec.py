"""Property-based tests of the study-file loader: whatever a file holds, a spec or one line.

Generated files each give either a :class:`StudySpec` that Optuna takes as written (no warning,
no range cut short, every value valid for the arch) or one :class:`PairsearchError` line that
names the file: never another exception. Four generators: random bytes, random text, valid
study files with random edits of their text, and documents built from the real schema (every
arch, every param, every sampler and pruner key) then mutated: keys deleted, added or nested,
values replaced by any TOML type, bounds, steps and choices pushed off their ranges.

Profiles (``tests/fuzzing.py``): ``quick`` in the unit suite, ``thorough`` under ``-m slow``.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import warnings
from decimal import Decimal
from pathlib import Path

import pytest
from fuzzing import PROFILES, check_property, file_contents, values_in_range
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.pruners import HyperbandPruner, MedianPruner
from optuna.samplers import RandomSampler, TPESampler

from pairsearch.errors import PairsearchError
from pairsearch.studyspec import (
    MAX_SEED,
    PRUNER_KEYS,
    SAMPLER_KEYS,
    SPACE_KEYS,
    TOP_LEVEL_KEYS,
    StudySpec,
    load_study_file,
    parse_spec,
)
from pairsearch.tomlfile import TableError
from pairsearch.training.models import ARCHS, get_arch, resolve_params
from pairsearch.training.params import PARAM_RANGES

SHIPPED = Path(__file__).resolve().parent.parent / "studies"
SCHEMA_WORDS = sorted(
    {*TOP_LEVEL_KEYS, *PARAM_RANGES, *SAMPLER_KEYS, *PRUNER_KEYS, "type", *SPACE_KEYS["int"], "choices"}
)
NAMES = [*ARCHS, *SPACE_KEYS, "tpe", "random", "median", "hyperband", "none"]


# --- the property ------------------------------------------------------------------------------


def load_or_one_line(path: Path) -> StudySpec | None:
    """Load ``path``: a spec Optuna takes as written, or None after checking the error line."""
    try:
        spec = load_study_file(path=path)
    except PairsearchError as error:
        assert_one_line_naming(str(error), where=str(path))
        return None
    assert_optuna_takes_it_as_written(spec)
    return spec


def assert_one_line_naming(message: str, *, where: str) -> None:
    assert message.startswith(f"{where}: "), message
    assert message.isprintable(), message  # no line break, tab or other control character
    assert len(message) < len(where) + 300, message


def assert_optuna_takes_it_as_written(spec: StudySpec) -> None:
    """Each range builds its Optuna distribution unchanged, without a warning; values suit the arch."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for space in spec.space:
            distribution = distribution_of(space)
            distribution.single()
            if space.type != "categorical":
                assert distribution.high == space.high, (space, distribution)
        sampler_and_pruner_of(spec)
    samples = {space.name: space.choices[-1] if space.choices else space.high for space in spec.space}
    resolve_params(arch=spec.arch, overrides={**spec.fixed, **samples})
    assert json.loads(spec.to_json())["arch"] == spec.arch and len(spec.spec_hash) == 16


def distribution_of(space):
    """The distribution that ``tuning.suggest_params`` asks Optuna for."""
    if space.type == "categorical":
        return CategoricalDistribution(list(space.choices))
    if space.type == "int":
        return IntDistribution(int(space.low), int(space.high), log=space.log, step=int(space.step or 1))
    return FloatDistribution(space.low, space.high, log=space.log, step=space.step)


def sampler_and_pruner_of(spec: StudySpec) -> None:
    sampler, pruner = spec.sampler, spec.pruner
    if sampler["name"] == "random":
        RandomSampler(seed=sampler.get("seed"))
    else:
        TPESampler(n_startup_trials=sampler["n_startup_trials"], seed=sampler.get("seed"))
    if pruner["name"] == "hyperband":
        HyperbandPruner(min_resource=1, max_resource=spec.epochs, reduction_factor=pruner.get("reduction_factor", 3))
    elif pruner["name"] == "median":
        MedianPruner(n_startup_trials=pruner["n_startup_trials"], n_warmup_steps=pruner["n_warmup_steps"])


# --- TOML text from a document -------------------------------------------------------------------


def toml_text(document: dict, *, headers: bool) -> str:
    """The document as TOML: tables as ``[name]`` sections or inline."""
    tables = {key: value for key, value in document.items() if headers and isinstance(value, dict)}
    lines = [f"{toml_key(key)} = {toml_value(value)}" for key, value in document.items() if key not in tables]
    for key, table in tables.items():
        lines += ["", f"[{toml_key(key)}]", *(f"{toml_key(sub)} = {toml_value(value)}" for sub, value in table.items())]
    return "\n".join(lines) + "\n"


def toml_key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else toml_string(key)


def toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # TOML writes nan, inf, -inf, 1e+16 and 5e-324 as Python does
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{ " + ", ".join(f"{toml_key(key)} = {toml_value(item)}" for key, item in value.items()) + " }"


# --- valid documents, built from the schema ------------------------------------------------------


@st.composite
def study_documents(draw) -> dict:
    arch = draw(st.sampled_from(sorted(ARCHS)))
    names = get_arch(arch).param_names
    searched = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    rest = [name for name in names if name not in searched]
    fixed = draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []
    document = {
        "arch": arch,
        "epochs": draw(st.integers(1, 1000)),
        "params": {name: draw(space_tables(name)) for name in searched},
    }
    if draw(st.booleans()):
        document["seed"] = draw(st.integers(0, MAX_SEED))
    if fixed:
        document["fixed"] = {name: draw(values_in_range(name)) for name in fixed}
    if draw(st.booleans()):
        document["sampler"] = draw(sampler_tables())
    if draw(st.booleans()):
        document["pruner"] = draw(pruner_tables())
    if draw(st.booleans()):
        document["description"] = draw(st.text(max_size=30))
    return document


@st.composite
def space_tables(draw, name: str) -> dict:
    allowed = PARAM_RANGES[name]
    if allowed.kind is bool or draw(st.booleans()):
        return {"type": "categorical", "choices": draw(st.lists(values_in_range(name), min_size=1, max_size=5,
                                                                  unique_by=float))}
    if allowed.kind is int:
        return draw(int_ranges(allowed))
    return draw(float_ranges(allowed))


@st.composite
def int_ranges(draw, allowed) -> dict:
    low = draw(st.integers(int(allowed.low), int(allowed.high)))
    table = {"type": "int", "low": low}
    if draw(st.booleans()):
        step = draw(st.integers(1, max(1, (int(allowed.high) - low) // 2)))
        table["high"] = low + step * draw(st.integers(0, (int(allowed.high) - low) // step))
        table["step"] = step
    else:
        table["high"] = draw(st.integers(low, int(allowed.high)))
        table["log"] = draw(st.booleans())
    return table


@st.composite
def float_ranges(draw, allowed) -> dict:
    """Bounds and steps with few decimals, so ``high - low`` is a whole number of steps in Decimal."""
    def decimal(hundredths: int) -> float:
        return float(Decimal(hundredths) / 100)

    top = int(allowed.high * 100)
    low = draw(st.integers(math.ceil(allowed.low * 100), top))
    if draw(st.booleans()) and low < top:
        step = draw(st.integers(1, top - low))
        high = low + step * draw(st.integers(1, (top - low) // step))
        return {"type": "float", "low": decimal(low), "high": decimal(high), "step": decimal(step)}
    table = {"type": "float", "low": decimal(low), "high": decimal(draw(st.integers(low, top)))}
    if low > 0 and draw(st.booleans()):
        table["log"] = True
    return table


@st.composite
def sampler_tables(draw) -> dict:
    table = {"name": draw(st.sampled_from(["tpe", "random"]))}
    for key in draw(st.lists(st.sampled_from(["seed", "n_startup_trials"]), unique=True)):
        table[key] = draw(st.integers(0, MAX_SEED))
    return table


@st.composite
def pruner_tables(draw) -> dict:
    table = {"name": draw(st.sampled_from(["median", "hyperband", "none"]))}
    for key in draw(st.lists(st.sampled_from(["n_startup_trials", "n_warmup_steps", "reduction_factor"]), unique=True)):
        table[key] = draw(st.integers(2 if key == "reduction_factor" else 0, 50))
    return table


# --- mutations of valid documents ----------------------------------------------------------------


def keys():
    return st.one_of(st.sampled_from(SCHEMA_WORDS), st.text(max_size=12))


def toml_scalars():
    return st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-3, 3000),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e300, 0.1, 0.5, 1.0]),
        st.text(max_size=20),
        st.sampled_from(NAMES),
        st.dates(),
        st.datetimes(),
        st.times(),
    )


def toml_values():
    return st.recursive(
        toml_scalars(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys(), inner, max_size=3),
        max_leaves=6,
    )


def containers(document: dict):
    """Every (container, key-or-index) pair in the document, and (document, None) for the root."""
    found = [(document, None)]
    stack = [document]
    while stack:
        node = stack.pop()
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            found.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return found


def nearby_numbers(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return toml_scalars()
    return st.one_of(
        st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63)]),
        st.sampled_from([value + 1, value - 1, -value, value * 2, value / 3, value * 1e6]),
        st.floats(allow_nan=True, allow_infinity=True),
    ).filter(lambda new: not isinstance(new, int) or -(2**63) <= new < 2**63)


@st.composite
def mutated_documents(draw) -> dict:
    document = copy.deepcopy(draw(study_documents()))
    for _ in range(draw(st.integers(1, 3))):
        node, key = draw(st.sampled_from(containers(document)))
        mutation = draw(st.sampled_from(["delete", "replace", "nudge", "add", "nest", "repeat"]))
        if key is None or mutation == "add":
            target = node if key is None else node[key]
            if isinstance(target, dict):
                target[draw(keys())] = draw(toml_values())
            elif isinstance(target, list):
                target.append(draw(toml_values()))
        elif mutation == "delete":
            del node[key]
        elif mutation == "replace":
            node[key] = draw(toml_values())
        elif mutation == "nudge":
            node[key] = draw(nearby_numbers(node[key]))
        elif mutation == "nest":
            node[key] = {draw(keys()): node[key]} if draw(st.booleans()) else [node[key]]
        elif isinstance(node[key], list) and node[key]:
            node[key].append(copy.deepcopy(draw(st.sampled_from(node[key]))))
    return document


# --- text edits of the shipped files -------------------------------------------------------------

TOKENS = [
    "=", "[", "]", "{", "}", ",", ".", '"', "'", "#", "\n", " ", "\ufeff", "\x00", "\r\n", "1e9", "nan", "-inf",
    "0", "-1", "true", "1979-05-27", "[params]", "[fixed]", "[sampler]", "[[params]]", "'''", '"""',
    *(f'"{name}"' for name in NAMES), *SCHEMA_WORDS,
]


@st.composite
def edited_study_texts(draw) -> str:
    text = (SHIPPED / f"{draw(st.sampled_from(sorted(ARCHS)))}.toml").read_text()
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 12)))
        insert = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)))
        text = text[:start] + (insert if draw(st.booleans()) else "") + text[end:]
    return text


# --- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "study.toml"


def load_bytes(path: Path, content: bytes) -> StudySpec | None:
    path.write_bytes(content)
    return load_or_one_line(path)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("contents", file_contents(max_bytes=400, max_chars=300, edited=edited_study_texts()))
def test_any_file_gives_a_spec_or_one_line(profile, contents, study_path):
    check_property(profile=profile, strategy=contents, check=lambda content: load_bytes(study_path, content))


@pytest.mark.parametrize("profile", PROFILES)
def test_valid_documents_load_as_written(profile, study_path):
    def check(example):
        document, headers = example
        spec = load_bytes(study_path, toml_text(document, headers=headers).encode())
        assert spec is not None, toml_text(document, headers=headers)
        assert spec.arch == document["arch"] and spec.epochs == document["epochs"]
        assert [space.name for space in spec.space] == list(document["params"])
        assert set(spec.fixed) == set(document.get("fixed", {}))

    check_property(profile=profile, strategy=st.tuples(study_documents(), st.booleans()), check=check)


@pytest.mark.parametrize("profile", PROFILES)
def test_mutated_documents_give_a_spec_or_one_line(profile, study_path):
    check_property(profile=profile, strategy=st.tuples(mutated_documents(), st.booleans()),
                   check=lambda example: load_bytes(study_path, toml_text(example[0], headers=example[1]).encode()))


@pytest.mark.parametrize("profile", PROFILES)
def test_parse_spec_on_mutated_documents_gives_a_spec_or_a_spec_error(profile):
    """The same without TOML in between: ``parse_spec`` raises only TableError, one printable line."""

    def check(document):
        try:
            spec = parse_spec(document=document)
        except TableError as error:
            assert_one_line_naming(str(error), where=error.key)
            return
        assert_optuna_takes_it_as_written(spec)

    check_property(profile=profile, strategy=mutated_documents(), check=check)
