"""The report's pairwise comparisons: which pairs, in which order, and their table and plot.

The pairs that answer the experiment's questions lead (the 2×2 design's simple effects, then
the other archs against the best of the four); every other pair follows, better mean first.
All of them are one family for the Holm correction and are tested with one test.
"""

from __future__ import annotations

import itertools

import pandas as pd

from pairsearch.report import answer, statistics
from pairsearch.report import formatting as fmt
from pairsearch.report.stats import FACTORS, Cell

PAIRWISE_GROUPS = {
    "shared_weights": "Weight sharing: shared − separate weights",
    "aux_loss": "Auxiliary loss: with − without",
    "versus": "Other archs − the best of the four",
    "rest": "Every other pair: better mean − worse mean",
}
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


def pairwise_html(*, comparisons: pd.DataFrame) -> str:
    """The pairwise table, grouped as :func:`comparison_groups` orders it, and its forest plot."""
    if comparisons.empty:
        return fmt.note("Only one arch has results: there is no pair to compare.")
    over = "searches" if (comparisons["level"] == "searches").any() else "seeds"
    caption = fmt.note(
        f"A − B in percentage points, paired by search and seed; mean and 95 % t interval over the {over}"
        f"{'' if over == 'searches' else ' (one search per arch: the interval excludes tuning luck)'}; "
        f"the columns as in the answer. One test for every pair: the {statistics.TEST_NAME}, the test "
        f"that matches the interval (p < 0.05 exactly when the CI excludes 0). Holm p: Holm-corrected "
        f"over all {len(comparisons)} pairs.",
        css_class="ps-caption",
    )
    rows, current = [], None
    for row in comparisons.itertuples(index=False):
        if row.group != current:
            rows.append(PAIRWISE_GROUPS[row.group])
            current = row.group
        rows.append([f"{row.arch_a} − {row.arch_b}", *answer.paired_cells(row),
                     fmt.p_value(row.p_value), fmt.p_value(row.holm_p)])
    headers = ["A − B", *answer.PAIRED_HEADERS, "t-test p", "Holm p"]
    forest = answer.forest(
        labels=[f"{r.arch_a} − {r.arch_b}" for r in comparisons.itertuples(index=False)],
        rows=list(comparisons.itertuples(index=False)),
        title="Every pairwise difference of test accuracy, with its 95 % CI",
        subtitle="A − B paired by search and seed; same order as the table",
    )
    return "\n".join([
        caption,
        fmt.table(headers=headers, rows=rows, numeric=range(1, 10), css_class="ps-pairwise"),
        fmt.plot(plot_id="pairwise-forest", figure=forest, height=120 + 26 * len(comparisons)),
    ])
