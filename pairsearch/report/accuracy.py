"""The per-arch accuracy table: in Markdown for summary.md and the terminal, and in HTML.

Accuracies in percent; the caption says what the mean and its interval are over.
"""

from __future__ import annotations

import pandas as pd

from pairsearch.report import formatting as fmt
from pairsearch.report.paired import runs_text

BEST_EPOCH_CAPTION = ("Best epoch: each seed's highest test accuracy over the epochs, mean ± std — the earlier "
                      "projects' protocol, optimistic (the epoch is chosen on the test set), shown only to "
                      "compare with figures published that way.")


def summary_markdown(
    *,
    summary: pd.DataFrame,
    best_epoch: pd.DataFrame | None = None,
    order: list[str] | None = None,
    recipe_line: str = "",
) -> str:
    """Render the per-arch summary as a captioned Markdown table.

    Args:
        summary: The analysis's per-arch summary (:func:`pairsearch.report.stats.summarize`).
        best_epoch: The same summary of each seed's best epoch: a last column, the earlier
            projects' protocol, for like-for-like comparison with them.
        order: The archs' order (:attr:`pairsearch.report.analysis.Analysis.summary_order`);
            default the summary's (by rank).
        recipe_line: A sentence ending the caption on the training recipe (none for the default).

    Returns:
        A caption line, a blank line and the table (test accuracy in percent), ending with a
        newline.
    """
    order = order or list(summary["arch"])
    rows = summary.set_index("arch").reindex([a for a in order if a in set(summary["arch"])])
    rows = rows.reset_index()
    caption = f"{accuracy_caption(summary)}{recipe_line}"
    headers = ["Arch", "Rank", "Mean ± std (%)", "95 % CI (%)", "Median (%)", "IQM (%)", "Searches × seeds",
               "SD search / seed (points)"]
    best = {} if best_epoch is None else {row.arch: row for row in best_epoch.itertuples(index=False)}
    if best_epoch is not None:
        caption += f" {BEST_EPOCH_CAPTION}"
        headers.append("Best epoch (%)")
    table_rows = []
    for row in rows.itertuples(index=False):
        cells = [str(row.arch), str(row.rank), f"{fmt.percent(row.mean)} ± {fmt.percent(row.std)}",
                 fmt.interval(row.ci_low, row.ci_high), fmt.percent(row.median), fmt.percent(row.iqm),
                 runs_text(runs=row.n, searches=row.n_searches), f"{sd_points(row.sd_search)} / {sd_points(row.sd_seed)}"]
        if best_epoch is not None:
            cells.append(best_epoch_cell(best.get(row.arch)))
        table_rows.append(cells)
    table = fmt.markdown_table(headers=headers, rows=table_rows, numeric={1, 2, 4, 5, 6, 7, 8}, centred={3})
    return "\n".join([caption, "", *table]) + "\n"


def accuracy_caption(summary: pd.DataFrame) -> str:
    """What the per-arch numbers are: runs, the mean, and what its interval is over."""
    common = ("Test accuracy (%) after the last epoch of each search's chosen configuration, on the final "
              "seeds (the same seeds for every arch and search). Mean: of each search's mean over its seeds; "
              "± std over every run; median and IQM (mean of the middle 50 %) over every run; rank 1 = best "
              "mean. SD search / seed: the variance split (one-way random effects); an SD between searches "
              "of 0.00 is an estimate at or below 0: the searches' means differ no more than their seeds predict.")
    if (summary.get("level", pd.Series(dtype=str)) == "searches").any():
        return common + (" 95 % CI: t interval over the searches (K − 1 degrees of freedom): it includes "
                         "which configuration a search happened to choose.")
    return common + (" 95 % CI: t interval over the seeds of one search per arch: it holds each arch's "
                     "configuration fixed and excludes tuning luck ('tune --repeats' includes it).")


def best_epoch_cell(row) -> str:
    """An arch's best-epoch mean ± std (a dash where it has none)."""
    return fmt.DASH if row is None else f"{fmt.percent(row.mean)} ± {fmt.percent(row.std)}"


def sd_points(value: float) -> str:
    return fmt.DASH if pd.isna(value) else f"{100 * value:.2f}"


def summary_table(
    *, summary: pd.DataFrame, run_counts: dict[str, int], archs: list[str], best_epoch: pd.DataFrame | None = None
) -> str:
    """The per-arch table of the page; an arch without a result shows its runs. ``best_epoch`` adds
    the last column of :func:`summary_markdown`, with its caption."""
    by_arch = {row.arch: row for row in summary.itertuples(index=False)}
    best = {} if best_epoch is None else {row.arch: row for row in best_epoch.itertuples(index=False)}
    runs = run_counts
    rows = []
    for arch in archs:
        row = by_arch.get(arch)
        if row is None:
            rows.append([arch, *[fmt.DASH] * 5, f"0 of {runs[arch]}", fmt.DASH,
                         *([fmt.DASH] if best_epoch is not None else [])])
            continue
        rows.append([
            arch, str(row.rank), f"{fmt.percent(row.mean)} ± {fmt.percent(row.std)}",
            fmt.interval(row.ci_low, row.ci_high), fmt.percent(row.median), fmt.percent(row.iqm),
            runs_text(runs=row.n, searches=row.n_searches) if row.n == runs[arch]
            else f"{row.n} of {runs[arch]}",
            f"{sd_points(row.sd_search)} / {sd_points(row.sd_seed)}",
            *([best_epoch_cell(best.get(arch))] if best_epoch is not None else []),
        ])
    headers = ["Arch", "Rank", "Mean ± std (%)", "95 % CI (%)", "Median (%)", "IQM (%)", "Searches × seeds",
               "SD search / seed (points)"]  # the columns of summary_markdown, in its order
    caption = accuracy_caption(summary) + " Searches × seeds: runs with a result (of all runs)."
    if best_epoch is not None:
        headers.append("Best epoch (%)")
        caption += f" {BEST_EPOCH_CAPTION}"
    return fmt.note(caption, css_class="ps-caption") + fmt.table(headers=headers, rows=rows,
                                                                  numeric=range(1, len(headers)))
