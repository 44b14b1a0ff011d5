"""The answer under two training recipes: each effect with its CI under each, and how it changed.

The same archs, configurations and seeds trained under two recipes (the default and
``--recipe``'s) give two sets of results; the analysis computes the 2×2 effects under each,
their change paired by run, and each effect's reading
(:class:`pairsearch.report.recipe_stats.RecipeComparison`, :mod:`pairsearch.report.verdicts`).
Here one sentence per effect says it in numbers, then two tables.
"""

from __future__ import annotations

import html

import pandas as pd

from pairsearch.report import formatting as fmt
from pairsearch.report.facts import RecipePair
from pairsearch.report.paired import FACTOR_NAMES, QUESTIONS, ci_text, effect_name
from pairsearch.report.recipe_stats import RecipeComparison
from pairsearch.report.stats import INTERACTION

LEADS = {
    "holds": "Does it hold under {second}? Yes, with the same size",
    "grows": "Does it hold under {second}? Yes, and it grows",
    "shrinks": "Does it hold under {second}? Yes, but it shrinks",
    "changes sign": "Does it hold under {second}? No: it changes sign",
    "vanishes": "Does it hold under {second}? No: it is no longer clear",
    "appears": "Does it hold under {second}? Unclear: not clear under {first}, clear under {second}",
    "unclear under both": "Does it hold under {second}? Unclear: clear under neither recipe",
}


def recipe_sentence(*, word: str | None, before, after, change, names: tuple[str, str]) -> str:
    """One effect's fate from one recipe to the other, in numbers.

    Args:
        word: The effect's reading (:func:`pairsearch.report.verdicts.reading`; None: no runs).
        before: The effect's row under the first recipe.
        after: Its row under the second.
        change: Its row of the change, with its Holm-corrected p.
        names: The two recipes' names.

    Returns:
        A sentence.
    """
    first, second = names
    if word is None:
        reason = (f"no results for {change.missing} under {first} or {second}" if change.missing
                  else "no seed with every run under both")
        return f"Cannot be compared ({reason})."
    numbers = (f"{fmt.points(before.mean_diff)} points ({ci_text(before)}) under {first}, "
               f"{fmt.points(after.mean_diff)} ({ci_text(after)}) under {second}; the change, "
               f"{fmt.points(change.mean_diff)} points ({ci_text(change)}, Holm p {fmt.p_value(change.holm_p)})")
    return f"{LEADS[word].format(first=first, second=second)}: {numbers}."


def recipes_html(*, pair: RecipePair, comparison: RecipeComparison | None) -> str:
    """The answer section's part on both recipes: sentences, the effects table, the archs table."""
    heading = (f"<h3>Under both training recipes: {html.escape(pair.baseline)} and "
               f"{html.escape(pair.recipe_name)}</h3>")
    recipes_note = fmt.note(f"This report's runs: {pair.recipe_summary}. Compared with: {pair.baseline_summary}, "
                       "the same configurations and seeds.", css_class="ps-caption")
    if comparison is None:
        return heading + recipes_note + fmt.note(
            f"No finished jobs under the {pair.baseline} recipe for these studies yet: run "
            "'pairsearch final-report' without --recipe, then this report again, to see the answer "
            "under both.")
    rows = _rows(comparison.effects, recipe_name=pair.recipe_name, baseline=pair.baseline)
    names = (pair.baseline, pair.recipe_name)
    sentences = "\n".join(
        f'<p class="ps-answer-line"><strong>{html.escape(QUESTIONS[factor])}</strong> '
        f"{html.escape(recipe_sentence(word=comparison.readings[(factor, given)], **rows[(factor, given)], names=names))}</p>"
        for factor, given in [*((f, "average") for f in FACTOR_NAMES), (INTERACTION, "")]
    )
    caption = fmt.note(
        f"Each effect as in the table above, under each recipe, and its change ({pair.recipe_name} − "
        f"{pair.baseline}), paired by search and seed: mean in points and 95 % t interval, over the "
        "searches (over the seeds with one search). Read signs first: changes sign only when both "
        "recipes are clear (CI excluding 0) in opposite directions; vanishes / appears when only the "
        "first / second is clear; with the same clear sign, grows or shrinks when the change's "
        "Holm-corrected p (over the seven effects) is below 0.05, else holds.", css_class="ps-caption")
    return "\n".join([heading, recipes_note, sentences, caption,
                      _effects_table(rows=rows, readings=comparison.readings, pair=pair),
                      _archs_table(archs=comparison.archs, pair=pair)])


def _rows(effects: pd.DataFrame, *, recipe_name: str, baseline: str) -> dict:
    """(factor, given) → {before, after, change} rows of the long table."""
    rows = {}
    for row in effects.itertuples(index=False):
        role = {baseline: "before", recipe_name: "after", "change": "change"}[row.recipe]
        rows.setdefault((row.factor, row.given), {})[role] = row
    return rows


def _effects_table(*, rows: dict, readings: dict, pair: RecipePair) -> str:
    body, keys = [], []
    for (factor, given), row in rows.items():
        word = readings[(factor, given)] or fmt.DASH
        body.append([(effect_name(row["after"]), row["after"].contrast), _effect(row["before"]),
                     _effect(row["after"]), _effect(row["change"]), word])
        keys.append(f"recipes/{factor}/{given}" if given else f"recipes/{factor}")
    headers = ["Effect (contrast)", f"{pair.baseline} (points, 95 % CI)", f"{pair.recipe_name} (points, 95 % CI)",
               "Change (points, 95 % CI)", "Conclusion"]
    return fmt.table(headers=headers, rows=body, numeric={1, 2, 3}, row_keys=keys, css_class="ps-recipes")


def _archs_table(*, archs: pd.DataFrame, pair: RecipePair) -> str:
    body = [[row.arch, fmt.percent(row.before_mean), fmt.percent(row.after_mean), _effect(row), str(row.n_pairs)]
            for row in archs.itertuples(index=False)]
    headers = ["Arch", f"{pair.baseline} mean (%)", f"{pair.recipe_name} mean (%)",
               "Change (points, 95 % CI)", "Seeds"]
    return fmt.table(headers=headers, rows=body, numeric={1, 2, 3, 4},
                     row_keys=[f"recipes/arch/{arch}" for arch in archs["arch"]], css_class="ps-recipes-archs")


def _effect(row) -> str:
    """``+2.46 [+1.90, +3.02]``."""
    if row.n_pairs == 0:
        return fmt.DASH
    return f"{fmt.points(row.mean_diff)} {fmt.interval(row.ci_low, row.ci_high, signed=True)}"
