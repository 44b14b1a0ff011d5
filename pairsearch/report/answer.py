"""The report's opening: the answer to the experiment's questions, in numbers and in sentences.

Every sentence is generated from the analysis's effects and other archs − the best of the four
(:class:`pairsearch.report.analysis.Analysis`): it follows each row's ``verdict`` — the sign of the
mean where the 95 % CI excludes 0, and "not clear" where it does not.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from pairsearch.report import formatting as fmt
from pairsearch.report.forests import forest
from pairsearch.report.paired import (
    FACTOR_NAMES,
    GIVEN_NAMES,
    PAIRED_HEADERS,
    QUESTIONS,
    ci_text,
    effect_label,
    effect_name,
    paired_cells,
)
from pairsearch.report.stats import FACTORIAL_DESIGN, INTERACTION

VERSUS_QUESTION = "Does another arch beat the best of the four?"
VERSUS_LEAD = {"higher": "Yes", "lower": "No", "unclear": "Unclear"}
# Columns that count wins of one arch over another: none for the interaction (a difference of differences).
WON_HEADERS = ("P(better) over searches", "Share won")


def recipe_suffix(recipe_name: str | None) -> str:
    """`` — strong recipe`` for titles and headings; empty when the recipe is not known."""
    return f" — {recipe_name} recipe" if recipe_name else ""


def answer_html(*, effects: pd.DataFrame, versus: pd.DataFrame, summary: pd.DataFrame) -> str:
    """The answer section's content: sentences, the two tables and the forest plot.

    Args:
        effects: The analysis's 2×2 effects, with their verdicts.
        versus: The analysis's other archs − the best of the four, in report order, with verdicts.
        summary: The analysis's per-arch summary.

    Returns:
        HTML.
    """
    by_key = {(row.factor, row.given): row for row in effects.itertuples(index=False)}
    means = dict(zip(summary["arch"], summary["mean"], strict=True))
    sentences = [
        (QUESTIONS[factor], factor_sentence(factor=factor, by_key=by_key))
        for factor in FACTOR_NAMES
    ]
    sentences.append((QUESTIONS[INTERACTION], interaction_sentence(row=by_key[(INTERACTION, "")])))
    sentences.append((VERSUS_QUESTION, versus_sentence(versus=versus, means=means)))
    paragraphs = "\n".join(
        f'<p class="ps-answer-line"><strong>{html.escape(question)}</strong> '
        f"{html.escape(sentence)}</p>"
        for question, sentence in sentences
    )
    caption = fmt.note(level_caption(effects), css_class="ps-caption")
    forests = [fmt.plot(plot_id="answer-forest", figure=effects_forest(effects=effects))]
    if not versus.empty:  # a plot of its own: differences of archs are several times the effects
        forests.append(fmt.plot(plot_id="versus-forest", figure=versus_forest(versus=versus)))
    return "\n".join(
        [paragraphs, caption, effects_table(effects=effects), versus_table(versus=versus), *forests]
    )


def answer_markdown(
    *, effects: pd.DataFrame, versus: pd.DataFrame, summary: pd.DataFrame, recipe_name: str | None = None
) -> str:
    """The answer in Markdown, for summary.md and the terminal: the sentences, then the effects.

    ``recipe_name`` names the results' training recipe in the heading (None: not named).
    """
    by_key = {(row.factor, row.given): row for row in effects.itertuples(index=False)}
    means = dict(zip(summary["arch"], summary["mean"], strict=True))
    lines = [f"## The answer{recipe_suffix(recipe_name)}", ""]
    for factor in FACTOR_NAMES:
        lines += [f"**{QUESTIONS[factor]}** {factor_sentence(factor=factor, by_key=by_key)}", ""]
    lines += [f"**{QUESTIONS[INTERACTION]}** {interaction_sentence(row=by_key[(INTERACTION, '')])}", ""]
    lines += [f"**{VERSUS_QUESTION}** {versus_sentence(versus=versus, means=means)}", ""]
    rows = [[f"{effect_name(row)} ({row.contrast})", *effect_cells(row)] for row in effects.itertuples(index=False)]
    lines += [level_caption(effects), "",
              *fmt.markdown_table(headers=["Effect (contrast)", *PAIRED_HEADERS], rows=rows,
                                  numeric=range(1, len(PAIRED_HEADERS) + 1))]
    return "\n".join(lines) + "\n"


def level_caption(effects: pd.DataFrame) -> str:
    """What the numbers of the answer are over: independent searches, or seeds of one search."""
    common = ("Differences of test accuracy in percentage points, paired by final seed. Share won: "
              "share of (search, seed) runs on which the first term wins (a tie counts half). Share won "
              "and P(better) are not shown for the interaction: it is a difference of two differences, "
              "with no arch to win. ")
    if (effects["level"] == "searches").any():
        return common + (
            "Each search r of every arch is one replicate of the whole experiment: the mean is over "
            "searches of each search's mean over its seeds, the 95 % CI a t interval over the "
            "searches (K − 1 degrees of freedom), so it includes the luck of which configuration a "
            "search chose. P(better): share of searches in which the first term wins — P(A > B) over "
            "replicates — with its Wilson 95 % interval. Tuning share: share of one run's variance "
            "that comes from the search rather than the seed (0 %: the between-search variance is "
            "estimated at or below 0). d_z = mean ÷ std of the per-search "
            "differences.")
    return common + (
        "One search per arch: the mean and its 95 % t interval are over the seeds, with each arch's "
        "configuration held fixed — they exclude tuning luck (which configuration the search "
        "happened to choose, which one search cannot measure). Run 'pairsearch tune --repeats 5' and "
        "'final-report' to include it. d_z = mean ÷ std of the per-seed differences.")


def factor_sentence(*, factor: str, by_key: Mapping[tuple[str, str], object]) -> str:
    """One factor's answer: its average effect, then its effect at each level of the other."""
    name = FACTOR_NAMES[factor]
    average = by_key[(factor, "average")]
    levels = [by_key[(factor, given)] for given in ("without", "with")]
    if average.n_pairs == 0:
        answered = [row for row in levels if row.n_pairs > 0]
        missing = ", ".join(sorted({a for row in levels for a in row.missing.split(", ") if a}))
        reason = f"no results for {missing}" if missing else "no seed common to all four"
        if not answered:
            return f"Unclear, it cannot be answered: {reason}."
        parts = [_change(name=name, row=row, given=_given(factor, row)) for row in answered]
        return f"Unclear: only in part ({reason}, so no average): " + "; ".join(parts) + "."
    levels_text = " and ".join(
        f"{fmt.points(row.mean_diff)} {_given(factor, row)} ({ci_text(row)}{_unclear_mark(row)})"
        for row in levels
    )
    lead = {
        "higher": f"Yes: {name} raises test accuracy by {_size(average.mean_diff)} points",
        "lower": f"No, it hurts: {name} lowers test accuracy by "
        f"{_size(average.mean_diff)} points",
        "unclear": f"Unclear: {name} changes test accuracy by "
        f"{fmt.points(average.mean_diff)} points",
    }[average.verdict]
    closing = " — the CI includes 0" if average.verdict == "unclear" else ""
    return (
        f"{lead} on average ({ci_text(average)}, d_z {fmt.effect_size(average.effect_size)}, "
        f"{_seeds_won(average)}{closing}); {levels_text}."
    )


def interaction_sentence(*, row) -> str:
    """Whether the effect of one factor depends on the other."""
    if row.n_pairs == 0:
        return f"Unclear, it cannot be answered: it needs all four archs (no results for {row.missing})."
    shared = FACTOR_NAMES["shared_weights"]
    size = f"{fmt.points(row.mean_diff)} points ({ci_text(row)})"
    return {
        "higher": f"No, they reinforce each other: the effect of {shared} is {size} larger with the "
        "auxiliary loss than without it — equally, the auxiliary loss gains that much more "
        "with shared weights.",
        "lower": f"No, they overlap: the effect of {shared} is {_size(row.mean_diff)} points "
        f"smaller with the auxiliary loss than without it ({ci_text(row)}).",
        "unclear": f"Unclear: the data do not show an interaction: {size}; the CI includes 0, so the "
        f"effect of {shared} with the auxiliary loss is not distinguishable from its effect "
        "without it.",
    }[row.verdict]


def versus_sentence(*, versus: pd.DataFrame, means: Mapping[str, float]) -> str:
    """Each arch outside the design against the best of the four."""
    if versus.empty:
        if any(arch in means for arch in FACTORIAL_DESIGN):
            return "Not asked: no arch outside the 2×2 design is in this report."
        return "Unclear, it cannot be answered: none of the four archs of the 2×2 design has results."
    reference = versus["reference"].iloc[0]
    parts = []
    for row in versus.itertuples(index=False):
        if row.n_pairs == 0:
            parts.append(f"{row.arch}: no seed in common")
            continue
        word = {"higher": "better", "lower": "worse", "unclear": "not clearly different"}
        parts.append(
            f"{row.arch} {word[row.verdict]}, {fmt.points(row.mean_diff)} points ({ci_text(row)}, "
            f"{_seeds_won(row)})"
        )
    intervals = "a 95 % CI" if len(versus) == 1 else f"95 % CIs simultaneous over the {len(versus)} comparisons"
    return (
        f"{VERSUS_LEAD[_versus_verdict(versus)]}. Against {reference}, the best of the four at "
        f"{fmt.percent(means.get(reference))} %, each on the searches and seeds both have, with {intervals}: "
        + "; ".join(parts) + "."
    )


def _versus_verdict(versus: pd.DataFrame) -> str:
    """``higher`` when some arch is clearly better, ``lower`` when every one is clearly worse."""
    verdicts = set(versus.loc[versus["n_pairs"] > 0, "verdict"])
    if "higher" in verdicts:
        return "higher"
    return "lower" if verdicts == {"lower"} else "unclear"


def effects_table(*, effects: pd.DataFrame) -> str:
    """The 2×2 effects, one row each, keyed ``factor/given`` (``interaction`` for the last)."""
    rows, keys, classes = [], [], []
    for row in effects.itertuples(index=False):
        rows.append([(effect_name(row), row.contrast), *effect_cells(row)])
        keys.append(f"{row.factor}/{row.given}" if row.given else row.factor)
        classes.append("ps-lead" if row.given in ("average", "") else "")
    headers = ["Effect (contrast)", *PAIRED_HEADERS]
    return fmt.table(headers=headers, rows=rows, numeric={1, 2, 3, 4, 5, 6, 7}, row_keys=keys,
                     row_classes=classes, css_class="ps-effects")


def effect_cells(row) -> list[str]:
    """:func:`pairsearch.report.paired.paired_cells` of an effect; the interaction's shares won are dashes."""
    cells = paired_cells(row)
    if row.factor == INTERACTION:
        for header in WON_HEADERS:
            cells[PAIRED_HEADERS.index(header)] = fmt.DASH
    return cells


def versus_table(*, versus: pd.DataFrame) -> str:
    """Each arch outside the design − the best of the four, keyed ``versus/<arch>``."""
    if versus.empty:
        return ""
    rows = [[f"{row.arch} − {row.reference}", *paired_cells(row)]
            for row in versus.itertuples(index=False)]
    headers = ["Other arch − best of the four", *PAIRED_HEADERS]
    keys = [f"versus/{arch}" for arch in versus["arch"]]
    return fmt.table(headers=headers, rows=rows, numeric={1, 2, 3, 4, 5, 6, 7}, row_keys=keys,
                     css_class="ps-versus")


def effects_forest(*, effects: pd.DataFrame) -> go.Figure:
    """The 2×2 design's effects, each with its 95 % CI, in points."""
    labels = [effect_label(row) for row in effects.itertuples(index=False)]
    return forest(labels=labels, rows=list(effects.itertuples(index=False)),
                  title="Effects on test accuracy, with 95 % CIs",
                  subtitle="the 2×2 design's effects, paired by search and seed")


def versus_forest(*, versus: pd.DataFrame) -> go.Figure:
    """Each other arch − the best of the four, with its 95 % CI, in points."""
    labels = [f"{row.arch} − {row.reference}" for row in versus.itertuples(index=False)]
    several = len(versus) > 1  # one interval needs no correction
    return forest(labels=labels, rows=list(versus.itertuples(index=False)),
                  title=("Other archs against the best of the four, with simultaneous 95 % CIs" if several
                         else "The other arch against the best of the four, with its 95 % CI"),
                  subtitle="arch − best of the four, paired by search and seed"
                           + ("; CIs Bonferroni over the archs" if several else ""))


def _given(factor: str, row) -> str:
    return GIVEN_NAMES[(factor, row.given)]


def _change(*, name: str, row, given: str) -> str:
    return f"{given}, {name} changes test accuracy by {fmt.points(row.mean_diff)} points " \
        f"({ci_text(row)}{_unclear_mark(row)})"


def _size(value: float) -> str:
    """A difference without its sign, for sentences that say the direction in words."""
    return f"{100 * abs(value):.2f}"


def _unclear_mark(row) -> str:
    return ", includes 0" if row.verdict == "unclear" else ""


def _seeds_won(row) -> str:
    """``higher in 4 of 5 searches`` over replicates, else ``higher on 14 of 15 seeds`` (``lower``
    for a negative mean); a tie counts half."""
    share, n, unit = ((row.p_better, row.n_searches, "searches") if row.level == "searches"
                      else (row.share_won, row.n_pairs, "seeds"))
    wins = share * n
    word, count = ("higher", wins) if row.mean_diff >= 0 else ("lower", n - wins)
    shown = f"{count:.0f}" if count == int(count) else f"{count:.1f}"
    return f"{word} {'in' if unit == 'searches' else 'on'} {shown} of {n} {unit}"
