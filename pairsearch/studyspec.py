"""Study files: TOML → a validated :class:`StudySpec` (search space, sampler, pruner).

A study file is data, never code: it is parsed with :mod:`tomllib` and every key is checked.
Errors name the file and the key, e.g. ``studies/base.toml: params.lr.low: must be > 0 for a
log-scale range``. Whatever the file holds, loading it gives either a spec that Optuna takes as
written (no warning, no range it would cut short) or one such line.
"""

from __future__ import annotations

import codecs
import datetime
import decimal
import hashlib
import json
import math
import os
import re
import stat
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pairsearch.errors import PairsearchError
from pairsearch.models import ARCHS, get_arch
from pairsearch.params import PARAM_RANGES, check_value

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
PRUNERS = ("median", "hyperband", "none")
TOP_LEVEL_KEYS = {"arch", "epochs", "seed", "params", "fixed", "sampler", "pruner", "description"}
SAMPLER_KEYS = {"name": str, "seed": int, "n_startup_trials": int}
PRUNER_KEYS = {"name": str, "n_startup_trials": int, "n_warmup_steps": int, "reduction_factor": int}
MAX_EPOCHS = 1000
# torch seeds take 64 bits but NumPy's (Optuna's samplers) 32, and the sampler seed is offset by
# the trial number: 2**31 - 1 leaves room for any budget. The sampler's and pruner's counts
# are bounded by it too.
MAX_SEED = 2**31 - 1
# The shipped study files are under 2 KiB. The bound keeps a wrong path (/dev/zero, a data
# file) from being read whole; pipes and devices are refused before any read.
MAX_FILE_BYTES = 1 << 20
# Byte-order marks of text that is not UTF-8 (UTF-32 first: its little-endian mark begins
# with UTF-16's). A UTF-8 mark, which some Windows editors write, is skipped.
FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
TOML_TYPE_NAMES = {
    bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
    dict: "a table", datetime.datetime: "a date-time", datetime.date: "a date", datetime.time: "a time",
}
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # a key TOML writes without quotes
MAX_SHOWN = 40  # characters of a value from the file quoted in a message: it is one short line


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
    """Read and validate a study file; ``arch`` (from ``--arch``) must match the file's.

    Raises:
        PairsearchError: one line naming the file, and the key when a value is wrong.
    """
    path = Path(path)
    document = read_toml_file(path=path, kind="study file")
    try:
        spec = parse_spec(document=document)
    except SpecError as error:
        raise _file_error(path, f"{error.key}: {error.message}") from None
    if arch is not None and spec.arch != arch:
        raise _file_error(path, f"arch: the file is for {spec.arch!r}, not --arch {_shown(arch)}")
    return spec


def _file_error(path: Path, message: str) -> PairsearchError:
    """``PATH: message``, the path escaped if it holds a character that would break the line."""
    name = str(path)
    return PairsearchError(f"{name if name.isprintable() else ascii(name)}: {message}")


# --- from bytes to a TOML document -----------------------------------------------------------


def read_toml_file(*, path: Path, kind: str) -> dict:
    """The TOML document in ``path``: a bounded read of a regular file, UTF-8, valid TOML.

    Args:
        path: The file.
        kind: What the file should be (``study file``, ``recipe file``), for the messages.

    Raises:
        PairsearchError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    return _parse_toml(path=path, text=_decode(path=path, content=_read_bounded(path=path, kind=kind)), kind=kind)


def _read_bounded(*, path: Path, kind: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES`."""
    try:
        # Non-blocking: opening a FIFO must not wait for a writer that never comes.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise _file_error(path, f"{kind} not found") from None
    except OSError as error:
        raise _file_error(path, f"cannot read ({error.strerror})") from None
    try:
        _check_regular(path=path, mode=os.fstat(descriptor).st_mode, kind=kind)
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            content = stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _file_error(path, f"cannot read ({error.strerror})") from None
    finally:
        os.close(descriptor)
    if len(content) > MAX_FILE_BYTES:
        raise _file_error(path, f"larger than {MAX_FILE_BYTES >> 20} MiB, so not a {kind}")
    return content


def _check_regular(*, path: Path, mode: int, kind: str) -> None:
    if stat.S_ISDIR(mode):
        raise _file_error(path, f"is a directory, not a {kind}")
    if not stat.S_ISREG(mode):
        raise _file_error(path, f"is a device, pipe or socket, not a {kind}")


def _decode(*, path: Path, content: bytes) -> str:
    """UTF-8 text (TOML's only encoding), a UTF-8 byte-order mark skipped."""
    for mark, encoding in FOREIGN_BOMS:
        if content.startswith(mark):
            raise _file_error(path, f"not UTF-8 text: it is {encoding}; save it as UTF-8")
    if b"\x00" in content:  # valid UTF-8 that TOML forbids: UTF-16 without a mark, or binary
        raise _file_error(path, "not UTF-8 text: it holds NUL bytes (UTF-16, or a binary file?)")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, byte = content.count(b"\n", 0, error.start) + 1, content[error.start]
        raise _file_error(path, f"not UTF-8 text (line {line} has the byte 0x{byte:02x})") from None


def _parse_toml(*, path: Path, text: str, kind: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _file_error(path, f"not valid TOML: {_shortened_toml_error(str(error))}") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise _file_error(path, f"not valid TOML for a {kind}: nested too deeply") from None
    except ValueError:  # tomllib lets Python's limit on the digits of an integer through
        raise _file_error(path, "not valid TOML: an integer with thousands of digits") from None


def _shortened_toml_error(text: str) -> str:
    """tomllib's message with any key it quotes cut short, its position kept."""
    message, at, position = text.rpartition(" (at ")
    return f"{_shortened(message)}{at}{position}" if at else _shortened(text)


# --- the document ----------------------------------------------------------------------------


class SpecError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def parse_spec(*, document: dict) -> StudySpec:
    """Validate a parsed TOML document; raise :class:`SpecError` naming the bad key."""
    _check_keys(document, allowed=TOP_LEVEL_KEYS, where="")
    arch_name = _parse_arch(document)
    epochs = _integer(_require(document, "epochs", int, "epochs"), "epochs", low=1, high=MAX_EPOCHS)
    seed = _integer(document.get("seed", 0), "seed", low=0, high=MAX_SEED)
    _check_type(document.get("description", ""), str, "description")
    param_names = get_arch(arch_name).param_names
    params = _require(document, "params", dict, "params")
    if not params:
        raise SpecError("params", "searches nothing: give at least one range (fixed values go in [fixed])")
    space = tuple(_parse_space(name, value, param_names) for name, value in params.items())
    fixed = _parse_fixed(document.get("fixed", {}), param_names, searched=set(params))
    return StudySpec(
        arch=arch_name, epochs=epochs, seed=seed, space=space, fixed=fixed,
        sampler=_parse_sampler(document.get("sampler", {})),
        pruner=_parse_pruner(document.get("pruner", {})),
    )


def _parse_arch(document: dict) -> str:
    name = _require(document, "arch", str, "arch")
    if name not in ARCHS:
        raise SpecError("arch", f"unknown arch {_shown(name)}; valid archs: {', '.join(ARCHS)}")
    return name


def _parse_space(name: str, table: object, valid: list[str]) -> ParamSpace:
    key = _key("params", name)
    if name not in valid:
        raise SpecError(key, f"unknown param for this arch; valid params: {', '.join(valid)}")
    if not isinstance(table, dict):
        raise SpecError(key, "must be a table like { type = \"float\", low = 0.0, high = 1.0 }")
    kind = _check_choice(_require(table, "type", str, f"{key}.type"), PARAM_TYPES, f"{key}.type", error=SpecError)
    _check_keys(table, allowed={"type", *SPACE_KEYS[kind]}, where=key, context=f" for type {kind!r}")
    _check_search_type(name, kind, key)
    if kind == "categorical":
        return _parse_categorical(name, table, key)
    return _parse_numeric(name, kind, table, key)


def _check_search_type(name: str, kind: str, key: str) -> None:
    allowed = SEARCH_TYPES[PARAM_RANGES[name].kind]
    if kind not in allowed:
        raise SpecError(f"{key}.type", f"{name} takes {PARAM_RANGES[name].describe()}: "
                                       f"search it with type {' or '.join(map(repr, allowed))}")


def _parse_categorical(name: str, table: dict, key: str) -> ParamSpace:
    choices = _require(table, "choices", list, f"{key}.choices")
    if not choices:
        raise SpecError(f"{key}.choices", "must not be empty")
    values = [_check_in_range(name, choice, f"{key}.choices") for choice in choices]
    for index, value in enumerate(values):
        if value in values[:index]:
            raise SpecError(f"{key}.choices", f"{_shown(choices[index])} is given twice")
    # The choices as written: existing studies' spec hashes depend on them, and resolve_params
    # converts each suggested value to its param's type.
    return ParamSpace(name=name, type="categorical", choices=tuple(choices))


def _parse_numeric(name: str, kind: str, table: dict, key: str) -> ParamSpace:
    low, high = (_parse_bound(name, kind, table, key, bound=bound) for bound in ("low", "high"))
    if low > high:
        raise SpecError(f"{key}.low", f"low ({low}) must not be greater than high ({high})")
    log = table.get("log", False)
    _check_type(log, bool, f"{key}.log")
    if log and low <= 0:
        raise SpecError(f"{key}.low", f"must be > 0 for a log-scale range, got {low}")
    step = _parse_step(kind, table, key, low=low, high=high)
    if step is not None and log:
        raise SpecError(f"{key}.step", "cannot be combined with log = true")
    return ParamSpace(name=name, type=kind, low=low, high=high, log=log, step=step)


def _parse_bound(name: str, kind: str, table: dict, key: str, *, bound: str) -> int | float:
    key = f"{key}.{bound}"
    value = _require(table, bound, int if kind == "int" else (int, float), key)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(key, "must be finite")
    return _check_in_range(name, value, key)


def _parse_step(kind: str, table: dict, key: str, *, low: float, high: float) -> int | float | None:
    """The grid step: positive, and ``high - low`` a whole number of steps."""
    step = table.get("step")
    if step is None:
        return None
    key = f"{key}.step"
    _check_type(step, int if kind == "int" else (int, float), key)
    if not (isinstance(step, int) or math.isfinite(step)) or step <= 0:
        positive = "a positive integer" if kind == "int" else "a positive finite number"
        raise SpecError(key, f"must be {positive}, got {_shown(step)}")
    if low < high:
        _check_step_fits(step, key, low=low, high=high)
    return step


def _check_step_fits(step: float, key: str, *, low: float, high: float) -> None:
    """Optuna would warn (naming its own source file) and cut ``high`` to the last whole step.

    Decided in decimal, as Optuna decides it: in binary floats 0.03 - 0.01 < 0.02.
    """
    span, step_size = decimal.Decimal(str(high)) - decimal.Decimal(str(low)), decimal.Decimal(str(step))
    if step_size > span:
        raise SpecError(key, f"{_shown(step)} is larger than the range {low}..{high}")
    try:
        fits = span % step_size == 0
    except decimal.InvalidOperation:  # more steps than Decimal has digits: Optuna would crash
        raise SpecError(key, f"{_shown(step)} is too fine for the range {low}..{high}; "
                             "leave step out for a continuous range") from None
    if not fits:
        raise SpecError(key, f"{_shown(step)} does not divide the range {low}..{high}: "
                             "make high - low a whole number of steps")


def _check_in_range(name: str, value: object, key: str) -> object:
    try:
        return check_value(name=name, value=value)
    except PairsearchError:
        allowed = PARAM_RANGES[name].describe()
        raise SpecError(key, f"{_shown(value)} is outside what {name} takes ({allowed})") from None


def _parse_fixed(table: object, valid: list[str], *, searched: set[str]) -> dict:
    if not isinstance(table, dict):
        raise SpecError("fixed", "must be a table of param = value")
    fixed = {}
    for name, value in table.items():
        key = _key("fixed", name)
        if name not in valid:
            raise SpecError(key, f"unknown param for this arch; valid params: {', '.join(valid)}")
        if name in searched:
            raise SpecError(key, "is also in [params]; fix it or search it, not both")
        fixed[name] = _check_in_range(name, value, key)
    return fixed


def _parse_sampler(table: object) -> dict:
    sampler = {"name": "tpe", "n_startup_trials": 10, **_typed(table, SAMPLER_KEYS, "sampler")}
    _check_choice(sampler["name"], SAMPLERS, "sampler.name", error=SpecError)
    return sampler


def _parse_pruner(table: object) -> dict:
    defaults = {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2}
    pruner = {**defaults, **_typed(table, PRUNER_KEYS, "pruner")}
    _check_choice(pruner["name"], PRUNERS, "pruner.name", error=SpecError)
    if pruner.get("reduction_factor", 2) < 2:  # Hyperband divides by log(reduction_factor)
        raise SpecError("pruner.reduction_factor", "must be an integer ≥ 2")
    return pruner


def _typed(table: object, allowed: dict[str, type], where: str) -> dict:
    """A [sampler] or [pruner] table: known keys, names, and counts from 0 to MAX_SEED."""
    if not isinstance(table, dict):
        raise SpecError(where, "must be a table")
    _check_keys(table, allowed=set(allowed), where=where)
    for key, value in table.items():
        _check_type(value, allowed[key], f"{where}.{key}")
        if allowed[key] is int:
            _integer(value, f"{where}.{key}", low=0, high=MAX_SEED)
    return dict(table)


# --- checks shared by every table ------------------------------------------------------------


def _check_keys(table: dict, *, allowed: set[str], where: str, context: str = "") -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(_key(where, key), f"unknown key{context}; valid keys: {', '.join(sorted(allowed))}")


def _require(table: dict, key: str, kind: type | tuple, where: str):
    if key not in table:
        raise SpecError(where, "missing")
    _check_type(table[key], kind, where)
    return table[key]


def _check_type(value: object, kind: type | tuple, where: str) -> None:
    """``value`` is a ``kind``; a bool is never a number here (Python says it is an int)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = "a number" if kinds == (int, float) else _type_name(kinds[0])
        raise SpecError(where, f"must be {expected}, got {_described(value)}")


def _integer(value: object, where: str, *, low: int, high: int) -> int:
    _check_type(value, int, where)
    if not low <= value <= high:
        raise SpecError(where, f"must be an integer from {low} to {high}, got {_shown(value)}")
    return value


def _check_choice(value: str, choices: tuple, where: str, *, error: type = PairsearchError) -> str:
    if value not in choices:
        message = f"{_shown(value)} is not one of: {', '.join(choices)}"
        raise error(where, message) if error is SpecError else error(f"{where}: {message}")
    return value


# --- how values from the file appear in a message --------------------------------------------


def _key(where: str, name: str) -> str:
    """The dotted path of a key, the key quoted as TOML quotes it when it is not a bare key."""
    quoted = name if BARE_KEY.fullmatch(name) else _shortened(json.dumps(name))
    return f"{where}.{quoted}" if where else quoted


def _type_name(kind: type) -> str:
    return TOML_TYPE_NAMES.get(kind, f"a {kind.__name__}")


def _shown(value: object) -> str:
    """A value, short and escaped (a string as Python quotes it); a table or an array by its type."""
    if isinstance(value, (dict, list)):
        return _type_name(type(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return _shortened(repr(value))


def _described(value: object) -> str:
    """A value's TOML type, and the value: ``a float (1000000000.0)``."""
    if isinstance(value, (dict, list)):
        return _type_name(type(value))
    return f"{_type_name(type(value))} ({_shown(value)})"


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 1]}…"
