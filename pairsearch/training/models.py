"""The architecture families, in one registry: the only list of archs in pairsearch.

Every model maps a batch of pairs (n, 2, 14, 14) to a :class:`PairOutput` (comparison
logits, and digit logits where the arch predicts digits) and knows its own loss. Adding an
arch is one ``@register_arch`` builder here plus one study file in ``studies/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from pairsearch.errors import PairsearchError
from pairsearch.training.params import PARAM_RANGES, check_value

SHARED_PARAMS = ("channels", "hidden", "lr", "dropout", "batchnorm", "batch_size", "weight_decay")
AUX_PARAMS = (*SHARED_PARAMS, "aux_weight")


class PairOutput(NamedTuple):
    compare_logits: torch.Tensor  # (n,): > 0 means "digit₁ ≤ digit₂"
    digit_logits: torch.Tensor | None  # (n, 2, 10) where the arch predicts digits


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
    return sum(parameter.numel() for parameter in model.parameters())


# --- building blocks -------------------------------------------------------------------------


def conv_trunk(*, in_channels: int, params: dict) -> nn.Sequential:
    """14×14 image(s) → ``hidden`` features: two conv blocks then one fully-connected layer."""
    channels, hidden = params["channels"], params["hidden"]

    def block(cin: int, cout: int) -> list[nn.Module]:
        norm = [nn.BatchNorm2d(cout)] if params["batchnorm"] else []
        return [nn.Conv2d(cin, cout, 3, padding=1), *norm, nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(in_channels, channels),  # → 7×7
        *block(channels, 2 * channels),  # → 3×3
        nn.Flatten(),
        nn.Dropout(params["dropout"]),
        nn.Linear(2 * channels * 9, hidden),
        nn.ReLU(),
    )


def mlp_head(*, in_features: int, params: dict, out_features: int) -> nn.Sequential:
    hidden, dropout = params["hidden"], params["dropout"]
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_features),
    )


def digit_loss(digit_logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """CE₁ + CE₂ (each a batch mean)."""
    return F.cross_entropy(digit_logits[:, 0], classes[:, 0]) + F.cross_entropy(
        digit_logits[:, 1], classes[:, 1]
    )


# --- the families ----------------------------------------------------------------------------


class SiameseNet(nn.Module):
    """Per-digit trunks (shared or separate) → compare head; optional digit heads + aux loss."""

    def __init__(self, *, params: dict, shared: bool, aux: bool) -> None:
        super().__init__()
        copies = 1 if shared else 2
        self.trunks = nn.ModuleList(conv_trunk(in_channels=1, params=params) for _ in range(copies))
        self.digit_heads = nn.ModuleList(
            nn.Linear(params["hidden"], 10) for _ in range(copies if aux else 0)
        )
        # With digit heads, the compare head reads the two digit logit vectors (20 numbers):
        # the auxiliary loss then shapes exactly what the comparison is made from.
        compare_inputs = 20 if aux else 2 * params["hidden"]
        self.compare = mlp_head(in_features=compare_inputs, params=params, out_features=1)
        self.aux_weight = params.get("aux_weight", 0.0) if aux else 0.0

    def forward(self, images: torch.Tensor) -> PairOutput:
        features = self._features(images)  # (n, 2, hidden)
        if not len(self.digit_heads):
            return PairOutput(self.compare(features.flatten(1)).squeeze(1), None)
        heads = self.digit_heads if len(self.digit_heads) == 2 else [self.digit_heads[0]] * 2
        digit_logits = torch.stack([heads[i](features[:, i]) for i in range(2)], dim=1)
        return PairOutput(self.compare(digit_logits.flatten(1)).squeeze(1), digit_logits)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        if len(self.trunks) == 1:  # shared weights: one pass over both digits
            n = images.shape[0]
            both = self.trunks[0](images.transpose(0, 1).reshape(2 * n, 1, 14, 14))
            return both.view(2, n, -1).transpose(0, 1)
        return torch.stack([self.trunks[i](images[:, i : i + 1]) for i in range(2)], dim=1)

    def loss(self, output: PairOutput, targets: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(output.compare_logits, targets)
        if output.digit_logits is not None:
            loss = loss + self.aux_weight * digit_loss(output.digit_logits, classes)
        return loss


class JointNet(nn.Module):
    """One CNN over the 2-channel image: no siamese structure, no digit labels."""

    def __init__(self, *, params: dict) -> None:
        super().__init__()
        self.trunk = conv_trunk(in_channels=2, params=params)
        self.compare = mlp_head(in_features=params["hidden"], params=params, out_features=1)

    def forward(self, images: torch.Tensor) -> PairOutput:
        return PairOutput(self.compare(self.trunk(images)).squeeze(1), None)

    def loss(self, output: PairOutput, targets: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output.compare_logits, targets)


class DigitClassifier(nn.Module):
    """Shared trunk + digit head applied to both images: (n, 2, 14, 14) → (n, 2, 10) logits."""

    def __init__(self, *, params: dict) -> None:
        super().__init__()
        self.trunk = conv_trunk(in_channels=1, params=params)
        self.head = nn.Sequential(nn.Dropout(params["dropout"]), nn.Linear(params["hidden"], 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        logits = self.head(self.trunk(images.reshape(2 * n, 1, 14, 14)))
        return logits.view(n, 2, 10)


class SplitNet(nn.Module):
    """Digit classifier trained on CE alone; a compare net trained on its *detached* probabilities."""

    def __init__(self, *, params: dict) -> None:
        super().__init__()
        self.classifier = DigitClassifier(params=params)
        self.compare = mlp_head(in_features=20, params=params, out_features=1)

    def forward(self, images: torch.Tensor) -> PairOutput:
        digit_logits = self.classifier(images)
        probabilities = digit_logits.softmax(dim=2).detach()
        return PairOutput(self.compare(probabilities.flatten(1)).squeeze(1), digit_logits)

    def loss(self, output: PairOutput, targets: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        compare_loss = F.binary_cross_entropy_with_logits(output.compare_logits, targets)
        return digit_loss(output.digit_logits, classes) + compare_loss


class DigitsNet(nn.Module):
    """Digit classifier only: P(d₁ ≤ d₂) = Σ_{i≤j} p₁(i)·p₂(j)."""

    def __init__(self, *, params: dict) -> None:
        super().__init__()
        self.classifier = DigitClassifier(params=params)
        self.register_buffer("less_equal", torch.triu(torch.ones(10, 10)), persistent=False)

    def forward(self, images: torch.Tensor) -> PairOutput:
        digit_logits = self.classifier(images)
        p1, p2 = digit_logits.softmax(dim=2).unbind(dim=1)
        probability = ((p1 @ self.less_equal) * p2).sum(dim=1).clamp(1e-6, 1 - 1e-6)
        return PairOutput(torch.logit(probability), digit_logits)

    def loss(self, output: PairOutput, targets: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return digit_loss(output.digit_logits, classes)


@register_arch(name="base", description="siamese, shared trunk → compare head",
               cell=Cell(shared_weights=True, aux_loss=False))
def build_base(params: dict) -> nn.Module:
    return SiameseNet(params=params, shared=True, aux=False)


@register_arch(name="base_aux", description="siamese, shared trunk + shared digit head, aux loss",
               params=AUX_PARAMS, predicts_digits=True, cell=Cell(shared_weights=True, aux_loss=True))
def build_base_aux(params: dict) -> nn.Module:
    return SiameseNet(params=params, shared=True, aux=True)


@register_arch(name="sep", description="two trunks with separate weights → compare head",
               cell=Cell(shared_weights=False, aux_loss=False))
def build_sep(params: dict) -> nn.Module:
    return SiameseNet(params=params, shared=False, aux=False)


@register_arch(name="sep_aux", description="two separate trunks + separate digit heads, aux loss",
               params=AUX_PARAMS, predicts_digits=True, cell=Cell(shared_weights=False, aux_loss=True))
def build_sep_aux(params: dict) -> nn.Module:
    return SiameseNet(params=params, shared=False, aux=True)


@register_arch(name="joint", description="one CNN over the 2-channel image (no siamese)")
def build_joint(params: dict) -> nn.Module:
    return JointNet(params=params)


@register_arch(name="split", description="digit classifier (CE) + compare net on its detached probabilities",
               predicts_digits=True)
def build_split(params: dict) -> nn.Module:
    return SplitNet(params=params)


@register_arch(name="digits", description="digit classifier only; P(d1 ≤ d2) from the two softmaxes",
               predicts_digits=True)
def build_digits(params: dict) -> nn.Module:
    return DigitsNet(params=params)
