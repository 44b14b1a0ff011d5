"""Which label plays each cell of the 2×2 design, and which pairs the pairwise table compares (the
one arch order is the registry's: :func:`pairsearch.training.models.arch_order`).

The pairs that answer the experiment's questions lead (the 2×2 design's simple effects, then
the other archs against the best of the four); every other pair follows, better mean first.
All of them are one family for the Holm correction and are tested with one test.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pandas as pd

from pairsearch.report.stats import FACTORIAL_DESIGN, FACTORS, Cell


def resolve_design(
    *, labels: Sequence[str], arch_of: Mapping[str, str]
) -> tuple[dict[str, Cell], list[str]]:
    """Which label plays each cell of the 2×2 design.

    A cell is played by the label named after its arch, else by the one label whose study is of
    that arch. A cell nobody plays keeps the arch's name (it then has no results).

    Args:
        labels: The labels with results.
        arch_of: Label → the arch of its study.

    Returns:
        The design for :func:`pairsearch.report.stats.factorial_effects`, and notes for the reader.
    """
    design, notes = {}, []
    for arch, cell in FACTORIAL_DESIGN.items():
        players = [label for label in labels if arch_of.get(label, label) == arch]
        if arch in players or not players:
            design[arch] = cell
        elif len(players) == 1:
            design[players[0]] = cell
        else:
            design[arch] = cell
            notes.append(f"Several studies of {arch} ({', '.join(players)}); none is used here.")
    return design, notes


def comparison_groups(
    *, archs: list[str], design: dict[str, Cell], summary: pd.DataFrame
) -> list[tuple[str, tuple[str, str]]]:
    """The pairs of the pairwise table: the answer's comparisons first, then every other pair."""
    present = set(summary["arch"])
    by_cell = {cell: label for label, cell in design.items()}
    groups = []
    for factor in FACTORS:
        for label, cell in design.items():
            partner = by_cell[cell._replace(**{factor: False})]
            if getattr(cell, factor) and {label, partner} <= present:
                groups.append((factor, (label, partner)))
    in_design = [arch for arch in summary["arch"] if arch in design]  # best mean first
    if in_design:
        groups += [("versus", (arch, in_design[0])) for arch in archs
                   if arch in present and arch not in design]
    done = {frozenset(pair) for _, pair in groups}
    ranked = list(summary["arch"])
    for arch_a, arch_b in itertools.combinations(ranked, 2):
        if frozenset((arch_a, arch_b)) not in done:
            groups.append(("rest", (arch_a, arch_b)))
    return groups


def sort_rest(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Leading groups in their given order; the other pairs by Holm p, then larger difference."""
    is_rest = comparisons["group"] == "rest"
    rest = comparisons[is_rest].sort_values(["holm_p", "mean_diff"], ascending=[True, False])
    return pd.concat([comparisons[~is_rest], rest], ignore_index=True)
