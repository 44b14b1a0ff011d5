"""The architecture registry: the only list of archs in pairsearch, importable without torch.

An arch is declared once, by a ``@register_arch`` builder here (as timm's ``@register_model``):
its name, description, params and 2×2 cell are plain data, read by ``pairsearch archs`` and the
study files without importing torch; the builder imports its network from
:mod:`pairsearch.training.networks` (torch) only when a model is built. Adding an arch is one
decorated builder here plus one study file in ``studies/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from pairsearch.errors import PairsearchError
from pairsearch.training.params import PARAM_RANGES, check_value

if TYPE_CHECKING:
    from torch import nn

SHARED_PARAMS = ("channels", "hidden", "lr", "dropout", "batchnorm", "batch_size", "weight_decay")
AUX_PARAMS = (*SHARED_PARAMS, "aux_weight")


class Cell(NamedTuple):
    """Where an arch sits in the 2×2 design: weights shared or separate, auxiliary loss or not."""

    shared_weights: bool
    aux_loss: bool


@dataclass(frozen=True)
class Arch:
    """One registered architecture.

    Attributes:
        name: What the CLI, study files and the report call it.
        description: One line for ``pairsearch archs``.
        builder: ``params -> nn.Module``.
        param_names: The hyperparameters it takes (each defined once, in :mod:`pairsearch.training.params`).
        predicts_digits: Whether its output carries digit logits (digit accuracy is reported).
        cell: Its place in the 2×2 design the report's answer is built from (None: outside it).
    """

    name: str
    description: str
    builder: Callable[[dict], nn.Module]
    param_names: tuple[str, ...]
    predicts_digits: bool
    cell: Cell | None = None

    @property
    def defaults(self) -> dict:
        return {name: PARAM_RANGES[name].default for name in self.param_names}

    def check_param_names(self, names) -> None:
        """Raise naming the first of ``names`` this arch does not take."""
        unknown = sorted(set(names) - set(self.param_names))
        if unknown:
            raise PairsearchError(
                f"unknown param {unknown[0]!r} for arch {self.name}; valid params: {', '.join(self.param_names)}"
            )


ARCHS: dict[str, Arch] = {}


def register_arch(
    *, name: str, description: str, params: tuple[str, ...] = SHARED_PARAMS, predicts_digits: bool = False,
    cell: Cell | None = None,
):
    """Register a builder ``params -> nn.Module`` under ``name``, with the params it takes and, for
    an arch of the 2×2 design, its cell."""
    unknown = sorted(set(params) - set(PARAM_RANGES))
    if unknown:
        raise ValueError(f"arch {name}: params {unknown} are not defined in pairsearch.training.params")
    taken = [arch.name for arch in ARCHS.values() if cell is not None and arch.cell == cell]
    if taken:
        raise ValueError(f"arch {name}: cell {cell} of the 2×2 design is {taken[0]}'s already; one arch per cell")

    def decorator(builder: Callable[[dict], nn.Module]) -> Callable[[dict], nn.Module]:
        ARCHS[name] = Arch(name, description, builder, tuple(params), predicts_digits, cell)
        return builder

    return decorator


def design_archs() -> dict[str, Cell]:
    """The archs of the 2×2 design (name → cell), in registry order."""
    return {name: arch.cell for name, arch in ARCHS.items() if arch.cell is not None}


def arch_order(*, labels: Iterable[str], arch_of: Mapping[str, str] | None = None) -> list[str]:
    """The one order of archs on every table, plot and status line.

    The 2×2 design first, then the other registered archs in registry order, then any other
    label alphabetically. A label (a study name) sorts as its arch, ``arch_of[label]``.

    Args:
        labels: The labels to order (archs, or studies' labels).
        arch_of: Label → arch, for labels that are not an arch's name.

    Returns:
        The labels, ordered, each once.
    """
    known = list(dict.fromkeys([*design_archs(), *ARCHS]))
    arch_of = arch_of or {}

    def key(label: str) -> tuple[int, str]:
        arch = arch_of.get(label, label)
        return (known.index(arch) if arch in known else len(known), str(label))

    return sorted(dict.fromkeys(str(label) for label in labels), key=key)


def get_arch(name: str) -> Arch:
    """The registered arch ``name``, or an error listing the valid ones."""
    if name not in ARCHS:
        raise PairsearchError(f"unknown arch {name!r}; valid archs: {', '.join(ARCHS)}")
    return ARCHS[name]


def resolve_params(*, arch: str, overrides: dict) -> dict:
    """The arch's defaults updated with ``overrides``, every value checked against its range."""
    spec = get_arch(arch)
    spec.check_param_names(overrides)
    merged = {**spec.defaults, **overrides}
    return {name: check_value(name=name, value=value) for name, value in merged.items()}


def build_model(*, arch: str, params: dict) -> nn.Module:
    return get_arch(arch).builder(params)


def count_parameters(model: nn.Module) -> int:
    """The number of weights ``model`` trains."""
    return sum(parameter.numel() for parameter in model.parameters())


# --- the archs: one decorated builder each -------------------------------------------------


@register_arch(name="base", description="siamese, shared trunk → compare head",
               cell=Cell(shared_weights=True, aux_loss=False))
def build_base(params: dict) -> nn.Module:
    from pairsearch.training.networks import SiameseNet

    return SiameseNet(params=params, shared=True, aux=False)


@register_arch(name="base_aux", description="siamese, shared trunk + shared digit head, aux loss",
               params=AUX_PARAMS, predicts_digits=True, cell=Cell(shared_weights=True, aux_loss=True))
def build_base_aux(params: dict) -> nn.Module:
    from pairsearch.training.networks import SiameseNet

    return SiameseNet(params=params, shared=True, aux=True)


@register_arch(name="sep", description="two trunks with separate weights → compare head",
               cell=Cell(shared_weights=False, aux_loss=False))
def build_sep(params: dict) -> nn.Module:
    from pairsearch.training.networks import SiameseNet

    return SiameseNet(params=params, shared=False, aux=False)


@register_arch(name="sep_aux", description="two separate trunks + separate digit heads, aux loss",
               params=AUX_PARAMS, predicts_digits=True, cell=Cell(shared_weights=False, aux_loss=True))
def build_sep_aux(params: dict) -> nn.Module:
    from pairsearch.training.networks import SiameseNet

    return SiameseNet(params=params, shared=False, aux=True)


@register_arch(name="joint", description="one CNN over the 2-channel image (no siamese)")
def build_joint(params: dict) -> nn.Module:
    from pairsearch.training.networks import JointNet

    return JointNet(params=params)


@register_arch(name="split", description="digit classifier (CE) + compare net on its detached probabilities",
               predicts_digits=True)
def build_split(params: dict) -> nn.Module:
    from pairsearch.training.networks import SplitNet

    return SplitNet(params=params)


@register_arch(name="digits", description="digit classifier only; P(d1 ≤ d2) from the two softmaxes",
               predicts_digits=True)
def build_digits(params: dict) -> nn.Module:
    from pairsearch.training.networks import DigitsNet

    return DigitsNet(params=params)
