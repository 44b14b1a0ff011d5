"""The networks the registered archs build (torch): trunks, heads and the model families.

Every model maps a batch of pairs (n, 2, 14, 14) to a :class:`PairOutput` (comparison
logits, and digit logits where the arch predicts digits) and knows its own loss. Which arch
builds which network is declared in :mod:`pairsearch.training.models`, the registry.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F


class PairOutput(NamedTuple):
    compare_logits: torch.Tensor  # (n,): > 0 means "digit₁ ≤ digit₂"
    digit_logits: torch.Tensor | None  # (n, 2, 10) where the arch predicts digits


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
