"""The answer under two training recipes: each effect with its CI under each, and how it changed.

The same archs, configurations and seeds trained under two recipes (the default and
``--recipe``'s) give two sets of results; the analysis computes the 2×2 effects under each,
their change paired by run, and each effect's reading
(:class:`pairsearch.report.recipe_stats.RecipeComparison`, :mod:`pairsearch.report.verdicts`).
Here one question and answer per effect says it in numbers, then two tables, each computed once and
rendered in HTML (the page) and in Markdown (summary.md and the terminal).
"""

from __future__ import annotations

import html

import pandas as pd

from pairsearch.report import formatting as fmt
from pairsearch.report.facts import RecipePair
from pairsearch.report.paired import FACTOR_NAMES, ci_text, effect_name, runs_text
from pairsearch.report.recipe_stats import RecipeComparison
from pairsearch.report.stats import INTERACTION

LEADS = {
    "holds": "Yes, with the same size",
    "grows": "Yes, and it grows",
    "shrinks": "Yes, but it shrinks",
    "changes sign": "No: it changes sign",
    "vanishes": "No: it vanishes (clear under {first}, not under {second})",
    "appears": "Unclear: it appears (not clear under {first}, clear under {second})",
    "unclear under both": "Unclear: clear under neither recipe",
}
EFFECT_HEADERS = ["Effect (contrast)", "{first} (points, 95 % CI)", "{second} (points, 95 % CI)",
                  "Change (points, 95 % CI)", "Conclusion"]
ARCH_HEADERS = ["Arch", "{first} mean (%)", "{second} mean (%)", "Change (points, 95 % CI)", "Searches × seeds"]
EFFECT_NUMERIC, ARCH_NUMERIC = {1, 2, 3}, {1, 2, 3, 4}  # right-aligned columns


def recipe_question(*, factor: str, second: str) -> str:
    """``Does the effect of weight sharing hold under strong?``, or ``Does the interaction …``."""
    subject = "the interaction" if factor == INTERACTION else f"the effect of {FACTOR_NAMES[factor]}"
    return f"Does {subject} hold under {second}?"


def recipe_sentence(*, word: str | None, before, after, change, names: tuple[str, str]) -> str:
    """One effect's fate from one recipe to the other, in numbers: Yes, No or Unclear first.

    Args:
        word: The effect's reading (:func:`pairsearch.report.verdicts.reading`; None: no runs).
        before: The effect's row under the first recipe.
        after: Its row under the second.
        change: Its row of the change.
        names: The two recipes' names.

    Returns:
        A sentence.
    """
    first, second = names
    if word is None:
        reason = (f"no results for {change.missing} under {first} or {second}" if change.missing
                  else "no seed with every run under both")
        return f"Unclear, it cannot be compared ({reason})."
    numbers = (f"{fmt.points(before.mean_diff)} points ({ci_text(before)}) under {first}, "
               f"{fmt.points(after.mean_diff)} ({ci_text(after)}) under {second}; the change, "
               f"{fmt.points(change.mean_diff)} points ({ci_text(change)})")
    return f"{LEADS[word].format(first=first, second=second)}: {numbers}."


def recipe_answers(*, pair: RecipePair, comparison: RecipeComparison) -> list[tuple[str, str]]:
    """(question, sentence) of each average effect and of the interaction, for every rendering."""
    rows = _rows(comparison.effects, recipe_name=pair.recipe_name, baseline=pair.baseline)
    names = (pair.baseline, pair.recipe_name)
    return [
        (recipe_question(factor=factor, second=pair.recipe_name),
         recipe_sentence(word=comparison.readings[(factor, given)], **rows[(factor, given)], names=names))
        for factor, given in [*((f, "average") for f in FACTOR_NAMES), (INTERACTION, "")]
    ]


def recipes_heading(pair: RecipePair) -> str:
    return f"Under both training recipes: {pair.baseline} and {pair.recipe_name}"


def recipes_note(pair: RecipePair) -> str:
    return (f"This report's runs: {pair.recipe_summary}. Compared with: {pair.baseline_summary}, "
            "the same configurations and seeds.")


def no_baseline_note(pair: RecipePair) -> str:
    return (f"No finished jobs under the {pair.baseline} recipe for these studies yet: run "
            "'pairsearch final-report' without --recipe, then this report again, to see the answer "
            "under both.")


def recipes_caption(pair: RecipePair) -> str:
    """What the recipes' tables show, and the one rule of every reading."""
    return (
        f"Each effect as in the table above, under each recipe, and its change ({pair.recipe_name} − "
        f"{pair.baseline}), paired by search and seed: mean in points and 95 % t interval, over the "
        "searches (over the seeds with one search). Read signs first: changes sign only when both "
        "recipes are clear (CI excluding 0) in opposite directions; vanishes / appears when only the "
        "first / second is clear; with the same clear sign, grows or shrinks when the change's 95 % CI "
        "(the one shown) excludes 0, else holds (the same size). Like every interval of the answer, the "
        "change's is not corrected for looking at seven effects.")


def effect_rows(*, pair: RecipePair, comparison: RecipeComparison) -> list[tuple[str, list]]:
    """(row key, cells of :data:`EFFECT_HEADERS`) per effect; the first cell is (name, contrast)."""
    rows = _rows(comparison.effects, recipe_name=pair.recipe_name, baseline=pair.baseline)
    table = []
    for (factor, given), row in rows.items():
        word = comparison.readings[(factor, given)] or fmt.DASH
        cells = [(effect_name(row["after"]), row["after"].contrast), _effect(row["before"]),
                 _effect(row["after"]), _effect(row["change"]), word]
        table.append((f"recipes/{factor}/{given}" if given else f"recipes/{factor}", cells))
    return table


def arch_rows(comparison: RecipeComparison) -> list[tuple[str, list[str]]]:
    """(row key, cells of :data:`ARCH_HEADERS`) per arch, in the report's arch order."""
    return [(f"recipes/arch/{row.arch}",
             [row.arch, fmt.percent(row.before_mean), fmt.percent(row.after_mean), _effect(row),
              runs_text(runs=row.n_pairs, searches=row.n_searches)])
            for row in comparison.archs.itertuples(index=False)]


def recipes_html(*, pair: RecipePair, comparison: RecipeComparison | None) -> str:
    """The section on both recipes (its heading: :func:`recipes_heading`): sentences, the effects
    table, the archs table."""
    note = fmt.note(recipes_note(pair), css_class="ps-caption")
    if comparison is None:
        return note + fmt.note(no_baseline_note(pair))
    sentences = "\n".join(
        f'<p class="ps-answer-line"><strong>{html.escape(question)}</strong> {html.escape(sentence)}</p>'
        for question, sentence in recipe_answers(pair=pair, comparison=comparison))
    effects = effect_rows(pair=pair, comparison=comparison)
    archs = arch_rows(comparison)
    return "\n".join([
        note, sentences, fmt.note(recipes_caption(pair), css_class="ps-caption"),
        fmt.table(headers=_headers(EFFECT_HEADERS, pair), rows=[cells for _, cells in effects], numeric=EFFECT_NUMERIC,
                  row_keys=[key for key, _ in effects], css_class="ps-recipes"),
        fmt.table(headers=_headers(ARCH_HEADERS, pair), rows=[cells for _, cells in archs], numeric=ARCH_NUMERIC,
                  row_keys=[key for key, _ in archs], css_class="ps-recipes-archs"),
    ])


def recipes_markdown(*, pair: RecipePair, comparison: RecipeComparison | None) -> str:
    """The same part in Markdown, for summary.md and the terminal."""
    lines = [f"## {recipes_heading(pair)}", "", recipes_note(pair), ""]
    if comparison is None:
        return "\n".join([*lines, no_baseline_note(pair)]) + "\n"
    for question, sentence in recipe_answers(pair=pair, comparison=comparison):
        lines += [f"**{question}** {sentence}", ""]
    effects = [[f"{cells[0][0]} ({cells[0][1]})", *cells[1:]]
               for _, cells in effect_rows(pair=pair, comparison=comparison)]
    archs = [cells for _, cells in arch_rows(comparison)]
    lines += [recipes_caption(pair), "",
              *fmt.markdown_table(headers=_headers(EFFECT_HEADERS, pair), rows=effects, numeric=EFFECT_NUMERIC), "",
              *fmt.markdown_table(headers=_headers(ARCH_HEADERS, pair), rows=archs, numeric=ARCH_NUMERIC)]
    return "\n".join(lines) + "\n"


def _headers(headers: list[str], pair: RecipePair) -> list[str]:
    return [header.format(first=pair.baseline, second=pair.recipe_name) for header in headers]


def _rows(effects: pd.DataFrame, *, recipe_name: str, baseline: str) -> dict:
    """(factor, given) → {before, after, change} rows of the long table."""
    rows = {}
    for row in effects.itertuples(index=False):
        role = {baseline: "before", recipe_name: "after", "change": "change"}[row.recipe]
        rows.setdefault((row.factor, row.given), {})[role] = row
    return rows


def _effect(row) -> str:
    """``+2.46 [+1.90, +3.02]``."""
    if row.n_pairs == 0:
        return fmt.DASH
    return f"{fmt.points(row.mean_diff)} {fmt.interval(row.ci_low, row.ci_high, signed=True)}"
