"""The report's pairwise comparisons: their table, in groups, and their forest plot.

Which pairs, in which order, is the analysis's (:mod:`pairsearch.report.design`): the pairs that
answer the experiment's questions lead, every other pair follows; all of them are one family for
the Holm correction and are tested with one test.
"""

from __future__ import annotations

import pandas as pd

from pairsearch.report import formatting as fmt
from pairsearch.report.forests import forest
from pairsearch.report.paired import PAIRED_HEADERS, paired_cells
from pairsearch.report.statistics import TEST_NAME

PAIRWISE_GROUPS = {
    "shared_weights": "Weight sharing: shared − separate weights",
    "aux_loss": "Auxiliary loss: with − without",
    "versus": "Other archs − the best of the four",
    "rest": "Every other pair: better mean − worse mean",
}


def pairwise_html(*, comparisons: pd.DataFrame) -> str:
    """The pairwise table, grouped as the analysis orders it, and its forest plot."""
    if comparisons.empty:
        return fmt.note("Only one arch has results: there is no pair to compare.")
    over = "searches" if (comparisons["level"] == "searches").any() else "seeds"
    caption = fmt.note(
        f"A − B in percentage points, paired by search and seed; mean and 95 % t interval over the {over}"
        f"{'' if over == 'searches' else ' (one search per arch: the interval excludes tuning luck)'}; "
        f"the columns as in the answer. One test for every pair: the {TEST_NAME}, the test "
        f"that matches the interval (p < 0.05 exactly when the CI excludes 0). Holm p: Holm-corrected "
        f"over all {len(comparisons)} pairs.",
        css_class="ps-caption",
    )
    rows, current = [], None
    for row in comparisons.itertuples(index=False):
        if row.group != current:
            rows.append(PAIRWISE_GROUPS[row.group])
            current = row.group
        rows.append([f"{row.arch_a} − {row.arch_b}", *paired_cells(row),
                     fmt.p_value(row.p_value), fmt.p_value(row.holm_p)])
    headers = ["A − B", *PAIRED_HEADERS, "t-test p", "Holm p"]
    figure = forest(
        labels=[f"{r.arch_a} − {r.arch_b}" for r in comparisons.itertuples(index=False)],
        rows=list(comparisons.itertuples(index=False)),
        title="Every pairwise difference of test accuracy, with its 95 % CI",
        subtitle="A − B paired by search and seed; rows in the table's order",
    )
    return "\n".join([
        caption,
        fmt.table(headers=headers, rows=rows, numeric=range(1, 10), css_class="ps-pairwise"),
        fmt.plot(plot_id="pairwise-forest", figure=figure),
    ])
