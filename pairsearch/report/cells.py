"""The 2×2 design cell by cell: each cell's mean with its CI, and each effect per (search, seed) run.

Numbers for the interaction plot and the per-run dots of the effects
(:mod:`pairsearch.report.design_plots` draws them); the same contrasts and summaries as the
effects table (:func:`pairsearch.report.stats.factorial_effects`), taken apart run by run.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pairsearch.report.stats import INTERACTION, Cell, accuracy_table, contrast, factorial_contrasts

CELL_COLUMNS = ["arch", "shared_weights", "aux_loss", "n", "mean", "ci_low", "ci_high"]
RUN_EFFECT_COLUMNS = ["factor", "given", "search", "seed", "difference"]
DOTTED_EFFECTS = {("shared_weights", "average"), ("aux_loss", "average"), (INTERACTION, "")}


def cell_means(*, summary: pd.DataFrame, design: Mapping[str, Cell]) -> pd.DataFrame:
    """Each cell of the design that has results: its arch, levels, mean and 95 % CI.

    Args:
        summary: :func:`pairsearch.report.stats.summarize` of the results.
        design: Arch → its cell.

    Returns:
        One row per cell with results, columns :data:`CELL_COLUMNS`, in the summary's numbers.
    """
    by_arch = summary.set_index("arch")
    rows = [
        {"arch": arch, "shared_weights": cell.shared_weights, "aux_loss": cell.aux_loss,
         **by_arch.loc[arch, ["n", "mean", "ci_low", "ci_high"]].to_dict()}
        for arch, cell in design.items() if arch in by_arch.index
    ]
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def run_effects(*, results: pd.DataFrame, design: Mapping[str, Cell]) -> pd.DataFrame:
    """The average effects and the interaction, one value per (search, seed) run.

    Args:
        results: One row per (arch, search, seed) with ``test_accuracy``.
        design: Arch → its cell; one arch per cell.

    Returns:
        Columns :data:`RUN_EFFECT_COLUMNS`: the contrast of each run where every cell it uses
        has a result (the values whose per-search means the effects table summarises).
    """
    by_run = accuracy_table(results=results)
    frames = []
    for factor, given, weights, _ in factorial_contrasts(design=design):
        if (factor, given) not in DOTTED_EFFECTS:
            continue
        values = contrast(by_run=by_run, weights=weights)
        frame = values.rename("difference").reset_index().assign(factor=factor, given=given)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=RUN_EFFECT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[RUN_EFFECT_COLUMNS]
