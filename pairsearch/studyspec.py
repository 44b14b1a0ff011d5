"""Study files: TOML → a validated :class:`StudySpec` (search space, sampler, pruner).

A study file is data, never code: it is parsed with :mod:`tomllib` and every key is checked.
Errors name the file and the key, e.g. ``studies/base.toml: params.lr.low: must be > 0 for a
log-scale range``. Whatever the file holds, loading it gives either a spec that Optuna takes as
written (no warning, no range it would cut short) or one such line.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pairsearch.defaults import MAX_EPOCHS, MAX_SEED
from pairsearch.errors import PairsearchError
from pairsearch.tomlfile import (
    TableError,
    check_choice,
    check_keys,
    check_type,
    file_error,
    integer,
    key_path,
    read_toml_file,
    require,
    shown,
)
from pairsearch.training.models import ARCHS, get_arch
from pairsearch.training.params import PARAM_RANGES, check_value

SOURCE_STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"
# The keys of a searched param besides `type`, by type.
SPACE_KEYS = {
    "int": ("low", "high", "step", "log"),
    "float": ("low", "high", "step", "log"),
    "categorical": ("choices",),
}
PARAM_TYPES = tuple(SPACE_KEYS)
# The types each kind of param is searched with: a float range of `channels` would suggest
# 37.2 channels, and a bool is only ever one of its two choices.
SEARCH_TYPES = {int: ("int", "categorical"), float: ("float", "categorical"), bool: ("categorical",)}
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
TOP_LEVEL_KEYS = {"arch", "epochs", "seed", "params", "fixed", "sampler", "pruner", "description"}
SAMPLER_KEYS = {"name": str, "seed": int, "n_startup_trials": int}
PRUNER_KEYS = {"name": str, "n_startup_trials": int, "n_warmup_steps": int, "reduction_factor": int}


@dataclass(frozen=True)
class ParamSpace:
    """The searched range of one hyperparameter."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None


@dataclass(frozen=True)
class StudySpec:
    arch: str
    epochs: int
    seed: int
    space: tuple[ParamSpace, ...]
    fixed: dict = field(default_factory=dict)
    sampler: dict = field(default_factory=dict)
    pruner: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def with_overrides(self, *, epochs: int | None = None, pruner: str | None = None) -> StudySpec:
        """The spec with ``--epochs`` / ``--pruner`` applied (a different spec, a different hash)."""
        spec = self
        if epochs is not None:
            spec = replace(spec, epochs=epochs)
        if pruner is not None:
            spec = replace(spec, pruner={**spec.pruner, "name": check_choice(pruner, PRUNERS, "--pruner")})
        return spec


def default_study_file(*, arch: str) -> Path:
    """``studies/ARCH.toml`` in the working directory, else the one beside the package source."""
    get_arch(arch)
    local = Path("studies") / f"{arch}.toml"
    return local if local.is_file() else SOURCE_STUDIES_DIR / f"{arch}.toml"


def load_study_file(*, path: Path, arch: str | None = None) -> StudySpec:
    """Read and validate a study file; ``arch`` (from ``--arch``) must match the file's.

    Raises:
        PairsearchError: one line naming the file, and the key when a value is wrong.
    """
    path = Path(path)
    document = read_toml_file(path=path, kind="study file")
    try:
        spec = parse_spec(document=document)
    except TableError as error:
        raise file_error(path, f"{error.key}: {error.message}") from None
    if arch is not None and spec.arch != arch:
        raise file_error(path, f"arch: the file is for {spec.arch!r}, not --arch {shown(arch)}")
    return spec


# --- the document ----------------------------------------------------------------------------


def parse_spec(*, document: dict) -> StudySpec:
    """Validate a parsed TOML document; raise :class:`TableError` naming the bad key."""
    check_keys(document, allowed=TOP_LEVEL_KEYS, where="")
    arch_name = _parse_arch(document)
    epochs = integer(require(document, "epochs", int, "epochs"), "epochs", low=1, high=MAX_EPOCHS)
    seed = integer(document.get("seed", 0), "seed", low=0, high=MAX_SEED)
    check_type(document.get("description", ""), str, "description")
    param_names = get_arch(arch_name).param_names
    params = require(document, "params", dict, "params")
    if not params:
        raise TableError("params", "searches nothing: give at least one range (fixed values go in [fixed])")
    space = tuple(_parse_space(name, value, param_names) for name, value in params.items())
    fixed = _parse_fixed(document.get("fixed", {}), param_names, searched=set(params))
    return StudySpec(
        arch=arch_name, epochs=epochs, seed=seed, space=space, fixed=fixed,
        sampler=_parse_sampler(document.get("sampler", {})),
        pruner=_parse_pruner(document.get("pruner", {})),
    )


def _parse_arch(document: dict) -> str:
    name = require(document, "arch", str, "arch")
    if name not in ARCHS:
        raise TableError("arch", f"unknown arch {shown(name)}; valid archs: {', '.join(ARCHS)}")
    return name


def _parse_space(name: str, table: object, valid: list[str]) -> ParamSpace:
    key = key_path("params", name)
    if name not in valid:
        raise TableError(key, f"unknown param for this arch; valid params: {', '.join(valid)}")
    if not isinstance(table, dict):
        raise TableError(key, "must be a table like { type = \"float\", low = 0.0, high = 1.0 }")
    kind = check_choice(require(table, "type", str, f"{key}.type"), PARAM_TYPES, f"{key}.type", error=TableError)
    check_keys(table, allowed={"type", *SPACE_KEYS[kind]}, where=key, context=f" for type {kind!r}")
    _check_search_type(name, kind, key)
    if kind == "categorical":
        return _parse_categorical(name, table, key)
    return _parse_numeric(name, kind, table, key)


def _check_search_type(name: str, kind: str, key: str) -> None:
    allowed = SEARCH_TYPES[PARAM_RANGES[name].kind]
    if kind not in allowed:
        raise TableError(f"{key}.type", f"{name} takes {PARAM_RANGES[name].describe()}: "
                                       f"search it with type {' or '.join(map(repr, allowed))}")


def _parse_categorical(name: str, table: dict, key: str) -> ParamSpace:
    choices = require(table, "choices", list, f"{key}.choices")
    if not choices:
        raise TableError(f"{key}.choices", "must not be empty")
    values = [_check_in_range(name, choice, f"{key}.choices") for choice in choices]
    for index, value in enumerate(values):
        if value in values[:index]:
            raise TableError(f"{key}.choices", f"{shown(choices[index])} is given twice")
    # The choices as written: existing studies' spec hashes depend on them, and resolve_params
    # converts each suggested value to its param's type.
    return ParamSpace(name=name, type="categorical", choices=tuple(choices))


def _parse_numeric(name: str, kind: str, table: dict, key: str) -> ParamSpace:
    low, high = (_parse_bound(name, kind, table, key, bound=bound) for bound in ("low", "high"))
    if low > high:
        raise TableError(f"{key}.low", f"low ({low}) must not be greater than high ({high})")
    log = table.get("log", False)
    check_type(log, bool, f"{key}.log")
    if log and low <= 0:
        raise TableError(f"{key}.low", f"must be > 0 for a log-scale range, got {low}")
    step = _parse_step(kind, table, key, low=low, high=high)
    if step is not None and log:
        raise TableError(f"{key}.step", "cannot be combined with log = true")
    return ParamSpace(name=name, type=kind, low=low, high=high, log=log, step=step)


def _parse_bound(name: str, kind: str, table: dict, key: str, *, bound: str) -> int | float:
    key = f"{key}.{bound}"
    value = require(table, bound, int if kind == "int" else (int, float), key)
    if isinstance(value, float) and not math.isfinite(value):
        raise TableError(key, "must be finite")
    return _check_in_range(name, value, key)


def _parse_step(kind: str, table: dict, key: str, *, low: float, high: float) -> int | float | None:
    """The grid step: positive, and ``high - low`` a whole number of steps."""
    step = table.get("step")
    if step is None:
        return None
    key = f"{key}.step"
    check_type(step, int if kind == "int" else (int, float), key)
    if not (isinstance(step, int) or math.isfinite(step)) or step <= 0:
        positive = "a positive integer" if kind == "int" else "a positive finite number"
        raise TableError(key, f"must be {positive}, got {shown(step)}")
    if low < high:
        _check_step_fits(step, key, low=low, high=high)
    return step


def _check_step_fits(step: float, key: str, *, low: float, high: float) -> None:
    """Optuna would warn (naming its own source file) and cut ``high`` to the last whole step.

    Decided in decimal, as Optuna decides it: in binary floats 0.03 - 0.01 < 0.02.
    """
    span, step_size = decimal.Decimal(str(high)) - decimal.Decimal(str(low)), decimal.Decimal(str(step))
    if step_size > span:
        raise TableError(key, f"{shown(step)} is larger than the range {low}..{high}")
    try:
        fits = span % step_size == 0
    except decimal.InvalidOperation:  # more steps than Decimal has digits: Optuna would crash
        raise TableError(key, f"{shown(step)} is too fine for the range {low}..{high}; "
                             "leave step out for a continuous range") from None
    if not fits:
        raise TableError(key, f"{shown(step)} does not divide the range {low}..{high}: "
                             "make high - low a whole number of steps")


def _check_in_range(name: str, value: object, key: str) -> object:
    try:
        return check_value(name=name, value=value)
    except PairsearchError:
        allowed = PARAM_RANGES[name].describe()
        raise TableError(key, f"{shown(value)} is outside what {name} takes ({allowed})") from None


def _parse_fixed(table: object, valid: list[str], *, searched: set[str]) -> dict:
    if not isinstance(table, dict):
        raise TableError("fixed", "must be a table of param = value")
    fixed = {}
    for name, value in table.items():
        key = key_path("fixed", name)
        if name not in valid:
            raise TableError(key, f"unknown param for this arch; valid params: {', '.join(valid)}")
        if name in searched:
            raise TableError(key, "is also in [params]; fix it or search it, not both")
        fixed[name] = _check_in_range(name, value, key)
    return fixed


def _parse_sampler(table: object) -> dict:
    sampler = {"name": "tpe", "n_startup_trials": 10, **_typed(table, SAMPLER_KEYS, "sampler")}
    check_choice(sampler["name"], SAMPLERS, "sampler.name", error=TableError)
    return sampler


def _parse_pruner(table: object) -> dict:
    defaults = {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2}
    pruner = {**defaults, **_typed(table, PRUNER_KEYS, "pruner")}
    check_choice(pruner["name"], PRUNERS, "pruner.name", error=TableError)
    if pruner.get("reduction_factor", 2) < 2:  # both halving pruners divide by log(reduction_factor)
        raise TableError("pruner.reduction_factor", "must be an integer ≥ 2")
    return pruner


def _typed(table: object, allowed: dict[str, type], where: str) -> dict:
    """A [sampler] or [pruner] table: known keys, names, and counts from 0 to MAX_SEED."""
    if not isinstance(table, dict):
        raise TableError(where, "must be a table")
    check_keys(table, allowed=set(allowed), where=where)
    for key, value in table.items():
        check_type(value, allowed[key], f"{where}.{key}")
        if allowed[key] is int:
            integer(value, f"{where}.{key}", low=0, high=MAX_SEED)
    return dict(table)


