"""Study files: TOML → a validated :class:`StudySpec` (search space, sampler, pruner).

A study file is data, never code: it is parsed with :mod:`tomllib` and every key is checked.
Errors name the file and the key, e.g. ``studies/base.toml: params.lr.low: must be > 0 for a
log-scale range``.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pairsearch.errors import PairsearchError
from pairsearch.models import get_arch
from pairsearch.params import PARAM_RANGES, check_value

SOURCE_STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"
PARAM_TYPES = ("int", "float", "categorical")
PRUNERS = ("median", "hyperband", "none")
TOP_LEVEL_KEYS = {"arch", "epochs", "seed", "params", "fixed", "sampler", "pruner", "description"}
# torch seeds take 64 bits but NumPy's (Optuna's samplers) 32, and the sampler seed is offset by
# the trial number: 2**31 - 1 leaves room for any budget.
MAX_SEED = 2**31 - 1


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
            spec = replace(spec, pruner={**spec.pruner, "name": _check_choice(pruner, PRUNERS, "--pruner")})
        return spec


def default_study_file(*, arch: str) -> Path:
    """``studies/ARCH.toml`` in the working directory, else the one beside the package source."""
    get_arch(arch)
    local = Path("studies") / f"{arch}.toml"
    return local if local.is_file() else SOURCE_STUDIES_DIR / f"{arch}.toml"


def load_study_file(*, path: Path, arch: str | None = None) -> StudySpec:
    """Read and validate a study file; ``arch`` (from ``--arch``) must match the file's."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PairsearchError(f"{path}: study file not found") from None
    except IsADirectoryError:
        raise PairsearchError(f"{path}: is a directory, not a study file") from None
    except UnicodeDecodeError:
        raise PairsearchError(f"{path}: not a text file (expected TOML)") from None
    except tomllib.TOMLDecodeError as error:
        raise PairsearchError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise PairsearchError(f"{path}: cannot read ({error.strerror})") from None
    try:
        spec = parse_spec(document)
    except SpecError as error:
        raise PairsearchError(f"{path}: {error.key}: {error.message}") from None
    if arch is not None and spec.arch != arch:
        raise PairsearchError(f"{path}: arch: the file is for {spec.arch!r}, not --arch {arch!r}")
    return spec


class SpecError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def parse_spec(document: dict) -> StudySpec:
    """Validate a parsed TOML document; raise :class:`SpecError` naming the bad key."""
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            raise SpecError(key, f"unknown key; valid keys: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    arch_name = _require(document, "arch", str, "arch")
    try:
        arch = get_arch(arch_name)
    except PairsearchError as error:
        raise SpecError("arch", str(error)) from None
    epochs = _require(document, "epochs", int, "epochs")
    if not 1 <= epochs <= 1000:
        raise SpecError("epochs", f"must be between 1 and 1000, got {epochs}")
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise SpecError("seed", f"must be an integer from 0 to {MAX_SEED}")
    params = _require(document, "params", dict, "params")
    space = tuple(_parse_space(name, value, arch.param_names) for name, value in params.items())
    fixed = _parse_fixed(document.get("fixed", {}), arch.param_names, searched=set(params))
    return StudySpec(
        arch=arch_name, epochs=epochs, seed=seed, space=space, fixed=fixed,
        sampler=_parse_sampler(document.get("sampler", {})),
        pruner=_parse_pruner(document.get("pruner", {})),
    )


def _require(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise SpecError(where, "missing")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(where, f"must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _parse_space(name: str, table: object, valid: list[str]) -> ParamSpace:
    key = f"params.{name}"
    if name not in valid:
        raise SpecError(key, f"unknown param for this arch; valid params: {', '.join(valid)}")
    if not isinstance(table, dict):
        raise SpecError(key, "must be a table like { type = \"float\", low = 0.0, high = 1.0 }")
    allowed_keys = {"type", "low", "high", "log", "step", "choices"}
    for sub in table:
        if sub not in allowed_keys:
            raise SpecError(f"{key}.{sub}", f"unknown key; valid keys: {', '.join(sorted(allowed_keys))}")
    kind = _require(table, "type", str, f"{key}.type")
    _check_choice(kind, PARAM_TYPES, f"{key}.type", error=SpecError)
    if kind == "categorical":
        return _parse_categorical(name, table, key)
    return _parse_numeric(name, kind, table, key)


def _parse_categorical(name: str, table: dict, key: str) -> ParamSpace:
    choices = _require(table, "choices", list, f"{key}.choices")
    if not choices:
        raise SpecError(f"{key}.choices", "must not be empty")
    for choice in choices:
        _check_in_range(name, choice, f"{key}.choices")
    return ParamSpace(name=name, type="categorical", choices=tuple(choices))


def _parse_numeric(name: str, kind: str, table: dict, key: str) -> ParamSpace:
    number = (int,) if kind == "int" else (int, float)
    bounds = {}
    for bound in ("low", "high"):
        value = table.get(bound)
        if value is None:
            raise SpecError(f"{key}.{bound}", "missing")
        if isinstance(value, bool) or not isinstance(value, number):
            raise SpecError(f"{key}.{bound}", f"must be {'an integer' if kind == 'int' else 'a number'}")
        if not math.isfinite(value):
            raise SpecError(f"{key}.{bound}", "must be finite")
        bounds[bound] = _check_in_range(name, value, f"{key}.{bound}")
    low, high = bounds["low"], bounds["high"]
    if low > high:
        raise SpecError(f"{key}.low", f"low ({low}) must not be greater than high ({high})")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{key}.log", "must be true or false")
    if log and low <= 0:
        raise SpecError(f"{key}.low", f"must be > 0 for a log-scale range, got {low}")
    step = table.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, number) or step <= 0):
        raise SpecError(f"{key}.step", "must be a positive number")
    if step is not None and log:
        raise SpecError(f"{key}.step", "cannot be combined with log = true")
    return ParamSpace(name=name, type=kind, low=low, high=high, log=log, step=step)


def _check_in_range(name: str, value: object, key: str) -> object:
    try:
        return check_value(name=name, value=value)
    except PairsearchError:
        raise SpecError(key, f"{value!r} is outside what {name} takes ({PARAM_RANGES[name].describe()})") from None


def _parse_fixed(table: object, valid: list[str], *, searched: set[str]) -> dict:
    if not isinstance(table, dict):
        raise SpecError("fixed", "must be a table of param = value")
    fixed = {}
    for name, value in table.items():
        if name not in valid:
            raise SpecError(f"fixed.{name}", f"unknown param for this arch; valid params: {', '.join(valid)}")
        if name in searched:
            raise SpecError(f"fixed.{name}", "is also in [params]; fix it or search it, not both")
        fixed[name] = _check_in_range(name, value, f"fixed.{name}")
    return fixed


def _parse_sampler(table: object) -> dict:
    if not isinstance(table, dict):
        raise SpecError("sampler", "must be a table")
    allowed = {"name": str, "seed": int, "n_startup_trials": int}
    sampler = {"name": "tpe", "n_startup_trials": 10, **_typed(table, allowed, "sampler")}
    _check_choice(sampler["name"], ("tpe", "random"), "sampler.name", error=SpecError)
    if sampler.get("seed", 0) > MAX_SEED:
        raise SpecError("sampler.seed", f"must be an integer from 0 to {MAX_SEED}")
    return sampler


def _parse_pruner(table: object) -> dict:
    if not isinstance(table, dict):
        raise SpecError("pruner", "must be a table")
    allowed = {"name": str, "n_startup_trials": int, "n_warmup_steps": int, "reduction_factor": int}
    pruner = {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2, **_typed(table, allowed, "pruner")}
    _check_choice(pruner["name"], PRUNERS, "pruner.name", error=SpecError)
    if pruner.get("reduction_factor", 2) < 2:  # Hyperband divides by log(reduction_factor)
        raise SpecError("pruner.reduction_factor", "must be an integer ≥ 2")
    return pruner


def _typed(table: dict, allowed: dict[str, type], where: str) -> dict:
    for key, value in table.items():
        if key not in allowed:
            raise SpecError(f"{where}.{key}", f"unknown key; valid keys: {', '.join(allowed)}")
        kind = allowed[key]
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            raise SpecError(f"{where}.{key}", f"must be a {'non-negative integer' if kind is int else 'string'}")
    return dict(table)


def _check_choice(value: str, choices: tuple, where: str, *, error: type = PairsearchError) -> str:
    if value not in choices:
        message = f"{value!r} is not one of: {', '.join(choices)}"
        raise error(where, message) if error is SpecError else error(f"{where}: {message}")
    return value
