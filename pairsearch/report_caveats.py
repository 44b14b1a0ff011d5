"""The report's caveats: what its intervals include and exclude, said with this run's numbers."""

from __future__ import annotations

import html

import pandas as pd

# Below this many seeds a bootstrap interval is about the range of the values (15 ship by default).
FEW_SEEDS = 5


def caveats_html(*, results: pd.DataFrame, analysis, protocol: dict) -> str:
    """A short list of what the intervals and tests do and do not cover.

    Args:
        results: Per-seed results, as for :func:`pairsearch.report.write_report`.
        analysis: The report's :class:`pairsearch.report.Analysis`.
        protocol: Protocol facts, as for :func:`pairsearch.report.write_report`.

    Returns:
        HTML.
    """
    seeds = sorted(results["seed"].unique())
    seed_text = f"{len(seeds)} seeds ({seeds[0]}…{seeds[-1]})" if seeds else "no seeds"
    source = protocol.get("data source")
    unfinished = results["test_accuracy"].isna().sum()
    within = (
        f"Every interval, P(improvement) and p-value is over the {seed_text}. They include the "
        "variation from seed to seed — which training and test pairs are drawn, the "
        "initialisation and the order of minibatches — and nothing else."
    )
    selection = (
        "They exclude the tuning's selection noise: each arch's configuration is the best of one "
        "tuning study on one validation split; another tuning run could pick another "
        "configuration with another test accuracy. The best validation accuracy is optimistic "
        "for the same reason (see Tuning provenance)."
    )
    images = (
        "They exclude the choice of images: every seed draws its pairs from the same pools"
        f"{f' of {source}' if source else ''}, so they describe pairs of these images, not new "
        "handwriting."
    )
    narrow = ("little more than the range of the values: too few seeds for an interval to mean much"
              if len(seeds) < FEW_SEEDS else "a little narrow")
    method = (
        f"BCa bootstrap intervals from {len(seeds)} values are approximate and tend to be "
        f"{narrow}; the sign-flip p-values are exact. The pairwise table is Holm-corrected "
        f"over its {len(analysis.comparisons)} pairs; the answer's intervals are not corrected "
        "for looking at several effects."
    )
    # Only where archs outside the 2×2 design were compared with its best arch.
    reference = ("The best of the four is chosen on the same seeds it is then compared on."
                 if not analysis.versus.empty else None)
    missing = (
        f"{unfinished} run(s) have no test accuracy (diverged or unfinished) and are left out; "
        "n is smaller where that happened."
        if unfinished
        else "Every run has a test accuracy."
    )
    items = [item for item in (within, selection, images, method, reference, missing) if item]
    return "<ul>\n" + "\n".join(f"<li>{html.escape(item)}</li>" for item in items) + "\n</ul>"


