"""The report's caveats: what its intervals include and exclude, said with this run's numbers."""

from __future__ import annotations

import html

from pairsearch.report.analysis import Analysis


def caveats_html(*, analysis: Analysis, protocol: dict) -> str:
    """A short list of what the intervals and tests do and do not cover.

    Args:
        analysis: The report's :class:`~pairsearch.report.analysis.Analysis`.
        protocol: Protocol facts, as for :func:`pairsearch.report.writer.write_report`.

    Returns:
        HTML.
    """
    seeds = analysis.seeds
    seed_text = f"{len(seeds)} final seeds ({seeds[0]}…{seeds[-1]})" if seeds else "no seeds"
    searches = int(analysis.summary["n_searches"].max()) if len(analysis.summary) else 0
    source = protocol.get("data source")
    unfinished = analysis.unfinished
    if searches >= 2:
        within = (
            f"Every interval and p-value is over up to {searches} independent searches per arch (search r "
            f"of every arch is one replicate of the whole experiment), each retrained on the {seed_text}. "
            "They include the luck of which configuration a search chose (its sampler stream, its tuning "
            "split and initial weights) and the variation from seed to seed — which training and test "
            "pairs are drawn, the initialisation and the order of minibatches.")
        fewest = int(analysis.summary["n_searches"].min())
        counts = f"{searches} searches" if fewest == searches else f"{fewest} to {searches} searches per arch"
        freedom = f"{searches - 1}" if fewest == searches else f"{fewest - 1} to {searches - 1}"
        selection = (
            f"With {counts} the t intervals have {freedom} degrees of freedom (a comparison: the searches "
            "both archs have, less one): wide, and honest about it. The best validation accuracy of a search is optimistic for its own test "
            "accuracy (see Tuning provenance), which is why the final stage retrains on fresh seeds.")
    else:
        within = (
            f"Every interval and p-value is over the {seed_text} of one search per arch. They include the "
            "variation from seed to seed — which training and test pairs are drawn, the initialisation "
            "and the order of minibatches — and nothing else.")
        selection = (
            "They exclude tuning luck: each arch's configuration is the best of one tuning study on one "
            "validation split; another search picks another configuration, whose test accuracy differs "
            "by an amount one search per arch cannot measure. 'pairsearch tune --repeats 5' and "
            f"'final-report' measure it and put it inside the intervals. With {len(seeds)} seeds the t intervals have "
            f"{max(len(seeds) - 1, 0)} degrees of freedom.")
    images = (
        "They exclude the choice of images: every seed draws its pairs from the same pools"
        f"{f' of {source}' if source else ''}, so they describe pairs of these images, not new "
        "handwriting."
    )
    method = (
        "Intervals are Student t intervals over the replicates (searches, or seeds with one search); "
        "a coverage simulation of this design checks that they cover the truth 93–97 % of the time. "
        f"The pairwise table is Holm-corrected over its {len(analysis.comparisons)} pairs; "
        + ("the other archs' intervals against the best of the four are simultaneous over those "
           "comparisons (Bonferroni); " if len(analysis.versus) > 1 else "")
        + "the 2×2 effects' intervals are not corrected for looking at several effects."
    )
    # Only where archs outside the 2×2 design were compared with its best arch.
    reference = ("The best of the four is chosen on the same runs it is then compared on."
                 if not analysis.versus.empty else None)
    missing = (
        f"{unfinished} run(s) have no test accuracy (diverged or unfinished) and are left out; "
        "the Searches × seeds column counts the runs with a result."
        if unfinished
        else "Every run has a test accuracy."
    )
    items = [item for item in (within, selection, images, method, reference, missing) if item]
    return "<ul>\n" + "\n".join(f"<li>{html.escape(item)}</li>" for item in items) + "\n</ul>"


