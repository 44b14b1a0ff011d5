"""Hyperparameters: one name, one type and one allowed range each, shared by every stage."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pairsearch.errors import PairsearchError


@dataclass(frozen=True)
class ParamRange:
    """What values a hyperparameter may take anywhere in pairsearch."""

    kind: type  # int, float or bool
    low: float | None = None
    high: float | None = None
    default: object = None
    help: str = ""

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        return f"{self.kind.__name__} in [{self.low:g}, {self.high:g}]"

    def contains(self, value: object) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not float(value).is_integer():
            return False
        return math.isfinite(value) and self.low <= value <= self.high


PARAM_RANGES: dict[str, ParamRange] = {
    "channels": ParamRange(int, 4, 256, 32, "width of the first conv layer (the second has twice as many)"),
    "hidden": ParamRange(int, 8, 1024, 128, "width of the fully-connected layers"),
    "lr": ParamRange(float, 1e-6, 1.0, 2e-3, "Adam learning rate"),
    "dropout": ParamRange(float, 0.0, 0.8, 0.2, "dropout before every fully-connected layer"),
    "batchnorm": ParamRange(bool, default=True, help="batch normalisation after every conv layer"),
    "aux_weight": ParamRange(float, 0.0, 100.0, 1.0, "weight w of the digit loss: BCE + w·(CE₁+CE₂)"),
    "batch_size": ParamRange(int, 1, 1000, 64, "minibatch size"),
    "weight_decay": ParamRange(float, 0.0, 1.0, 0.0, "Adam weight decay"),
}


def range_of(*, name: str) -> ParamRange:
    """The range of the param ``name``; an unknown name is one line listing the params."""
    if name not in PARAM_RANGES:
        raise PairsearchError(f"unknown param {name!r}; params: {', '.join(PARAM_RANGES)}")
    return PARAM_RANGES[name]


def check_value(*, name: str, value: object) -> object:
    """Return ``value`` in its parameter's type, or raise naming the parameter and its range."""
    allowed = range_of(name=name)
    if allowed.kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        if allowed.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        within = allowed.contains(value)
    except OverflowError:  # a Python int too large for a float
        within = False
    if not within:
        raise PairsearchError(f"{name}={value!r} is out of range: {name} takes {allowed.describe()}")
    return value


def parse_assignment(text: str) -> tuple[str, str]:
    """Split ``name=value`` (a ``--set`` argument)."""
    name, separator, raw = text.partition("=")
    if not separator or not name.strip() or not raw.strip():
        raise PairsearchError(f"--set {text!r} must look like name=value, e.g. --set lr=0.002")
    return name.strip(), raw.strip()


def parse_value(*, name: str, raw: str) -> object:
    """Parse the text of a ``--set`` value into its parameter's type and check its range."""
    allowed = range_of(name=name)
    try:
        if allowed.kind is bool:
            value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[raw.lower()]
        else:
            value = allowed.kind(float(raw)) if allowed.kind is float else _parse_int(raw)
    except (KeyError, ValueError, OverflowError):
        raise PairsearchError(
            f"cannot read {name}={raw!r}: {name} takes {allowed.describe()}"
        ) from None
    return check_value(name=name, value=value)


def _parse_int(raw: str) -> int:
    number = float(raw)
    if not number.is_integer():
        raise ValueError(raw)
    return int(number)
