"""The answer under two training recipes: each effect with its CI under each, and how it changed.

The same archs, configurations and seeds trained under two recipes (the default and
``--recipe``'s) give two sets of results. The 2×2 effects are computed under each, and their
change (second − first) is paired by run (:func:`pairsearch.report.recipe_stats.effect_changes`). One
generated sentence per effect reads signs first: it **changes sign** only when both recipes are
clear (95 % CI excluding 0) in opposite directions; it **vanishes** (or **appears**) when it is
clear under the first recipe only (or the second only); with the same clear sign under both it
**grows** or **shrinks** when the change is clear after Holm's correction over the effects, and
else **holds**; clear under neither, it is **unclear under both**.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pairsearch.report import formatting as fmt
from pairsearch.report import recipe_stats, stats
from pairsearch.report.answer import FACTOR_NAMES, QUESTIONS, _ci, _effect_name, verdict
from pairsearch.report.statistics import holm_adjust
from pairsearch.report.stats import INTERACTION, PAIRED_COLUMNS, Cell

ALPHA = 0.05  # a change is clear when its Holm-corrected p is below this

BY_RECIPE_COLUMNS = ["factor", "given", "contrast", "recipe", *PAIRED_COLUMNS, "holm_p", "missing"]


@dataclass(frozen=True)
class RecipePair:
    """The reported results' recipe, and the default recipe's results of the same studies.

    Attributes:
        recipe: The reported results' recipe, e.g. ``strong``.
        recipe_summary: One line on it, e.g. ``strong (25 epochs, training images shifted …)``.
        baseline: The default recipe, e.g. ``course``.
        baseline_summary: One line on it.
        baseline_results: Its per-seed results, as the report's ``results`` (may be empty).
    """

    recipe: str
    recipe_summary: str
    baseline: str
    baseline_summary: str
    baseline_results: pd.DataFrame


@dataclass(frozen=True)
class RecipeComparison:
    """Every number of the comparison, computed once."""

    effects: pd.DataFrame  # long: BY_RECIPE_COLUMNS, recipe = baseline, recipe, or "change"
    archs: pd.DataFrame  # arch, baseline mean, recipe mean, and the paired change


def compare(*, pair: RecipePair, results: pd.DataFrame, design: Mapping[str, Cell]) -> RecipeComparison | None:
    """The effects under each recipe and their changes; None when the baseline has no results."""
    before = pair.baseline_results
    if before.empty:
        return None
    under_each = [stats.factorial_effects(results=before, design=design).assign(recipe=pair.baseline),
                  stats.factorial_effects(results=results, design=design).assign(recipe=pair.recipe)]
    missing = [", ".join(sorted({arch for text in texts for arch in text.split(", ") if arch}))
               for texts in zip(*(frame["missing"] for frame in under_each), strict=True)]
    change = recipe_stats.effect_changes(before=before, after=results, design=design).assign(recipe="change")
    change["holm_p"] = holm_adjust(p_values=change["p_value"].to_numpy(dtype=float))
    frames = [*under_each, change.assign(missing=missing)]
    effects = pd.concat([frame.reindex(columns=BY_RECIPE_COLUMNS) for frame in frames], ignore_index=True)
    means = {name: stats.summarize(results=frame).set_index("arch")["mean"]
             for name, frame in (("before_mean", before), ("after_mean", results))}
    archs = recipe_stats.arch_changes(before=before, after=results)
    for column, series in means.items():
        archs.insert(1 if column == "before_mean" else 2, column, archs["arch"].map(series))
    return RecipeComparison(effects=effects, archs=archs)


def reading(*, before, after, change) -> str | None:
    """What happened to an effect from the first recipe to the second, signs first (see the
    module's text); None when the change has no runs."""
    if change.n_pairs == 0:
        return None
    first, second = verdict(before), verdict(after)
    if first == second == "unclear":
        return "unclear under both"
    if "unclear" in (first, second):
        return "vanishes" if second == "unclear" else "appears"
    if first != second:
        return "changes sign"
    if not change.holm_p < ALPHA:
        return "holds"
    return "grows" if abs(after.mean_diff) > abs(before.mean_diff) else "shrinks"


def recipe_sentence(*, before, after, change, names: tuple[str, str]) -> str:
    """One effect's fate from one recipe to the other, in numbers.

    Args:
        before: The effect's row under the first recipe (:func:`pairsearch.report.stats.factorial_effects`).
        after: Its row under the second.
        change: Its row of :func:`pairsearch.report.recipe_stats.effect_changes`.
        names: The two recipes' names.

    Returns:
        A sentence.
    """
    first, second = names
    word = reading(before=before, after=after, change=change)
    if word is None:
        reason = (f"no results for {change.missing} under {first} or {second}" if change.missing
                  else "no seed with every run under both")
        return f"Cannot be compared ({reason})."
    numbers = (f"{fmt.points(before.mean_diff)} points ({_ci(before)}) under {first}, "
               f"{fmt.points(after.mean_diff)} ({_ci(after)}) under {second}; the change, "
               f"{fmt.points(change.mean_diff)} points ({_ci(change)}, Holm p {fmt.p_value(change.holm_p)})")
    lead = {
        "holds": f"Does it hold under {second}? Yes, with the same size",
        "grows": f"Does it hold under {second}? Yes, and it grows",
        "shrinks": f"Does it hold under {second}? Yes, but it shrinks",
        "changes sign": f"Does it hold under {second}? No: it changes sign",
        "vanishes": f"Does it hold under {second}? No: it is no longer clear",
        "appears": f"Does it hold under {second}? It was not clear under {first}; it is under {second}",
        "unclear under both": f"Does it hold under {second}? Unclear: clear under neither recipe",
    }[word]
    return f"{lead}: {numbers}."


def recipes_html(*, pair: RecipePair, comparison: RecipeComparison | None) -> str:
    """The answer section's part on both recipes: sentences, the effects table, the archs table."""
    heading = (f"<h3>Under both training recipes: {html.escape(pair.baseline)} and "
               f"{html.escape(pair.recipe)}</h3>")
    recipes = fmt.note(f"This report's runs: {pair.recipe_summary}. Compared with: {pair.baseline_summary}, "
                       "the same configurations and seeds.", css_class="ps-caption")
    if comparison is None:
        return heading + recipes + fmt.note(
            f"No finished jobs under the {pair.baseline} recipe for these studies yet: run "
            "'pairsearch final-report' without --recipe, then this report again, to see the answer "
            "under both.")
    rows = _rows(comparison.effects, recipe=pair.recipe, baseline=pair.baseline)
    sentences = "\n".join(
        f'<p class="ps-answer-line"><strong>{html.escape(QUESTIONS[factor])}</strong> '
        f"{html.escape(recipe_sentence(**rows[(factor, given)], names=(pair.baseline, pair.recipe)))}</p>"
        for factor, given in [*((f, "average") for f in FACTOR_NAMES), (INTERACTION, "")]
    )
    caption = fmt.note(
        f"Each effect as in the table above, under each recipe, and its change ({pair.recipe} − "
        f"{pair.baseline}), paired by search and seed: mean in points and 95 % t interval, over the "
        "searches (over the seeds with one search). Read signs first: changes sign only when both "
        "recipes are clear (CI excluding 0) in opposite directions; vanishes / appears when only the "
        "first / second is clear; with the same clear sign, grows or shrinks when the change's "
        "Holm-corrected p (over the seven effects) is below 0.05, else holds.", css_class="ps-caption")
    return "\n".join([heading, recipes, sentences, caption, _effects_table(rows=rows, pair=pair),
                      _archs_table(archs=comparison.archs, pair=pair)])


def _rows(effects: pd.DataFrame, *, recipe: str, baseline: str) -> dict:
    """(factor, given) → {before, after, change} rows of the long table."""
    rows = {}
    for row in effects.itertuples(index=False):
        role = {baseline: "before", recipe: "after", "change": "change"}[row.recipe]
        rows.setdefault((row.factor, row.given), {})[role] = row
    return rows


def _effects_table(*, rows: dict, pair: RecipePair) -> str:
    body, keys = [], []
    for (factor, given), row in rows.items():
        word = reading(**row) or fmt.DASH
        body.append([(_effect_name(row["after"]), row["after"].contrast), _effect(row["before"]),
                     _effect(row["after"]), _effect(row["change"]), word])
        keys.append(f"recipes/{factor}/{given}" if given else f"recipes/{factor}")
    headers = ["Effect (contrast)", f"{pair.baseline} (points, 95 % CI)", f"{pair.recipe} (points, 95 % CI)",
               "Change (points, 95 % CI)", "Conclusion"]
    return fmt.table(headers=headers, rows=body, numeric={1, 2, 3}, row_keys=keys, css_class="ps-recipes")


def _archs_table(*, archs: pd.DataFrame, pair: RecipePair) -> str:
    body = [[row.arch, fmt.percent(row.before_mean), fmt.percent(row.after_mean), _effect(row), str(row.n_pairs)]
            for row in archs.itertuples(index=False)]
    headers = ["Arch", f"{pair.baseline} mean (%)", f"{pair.recipe} mean (%)",
               "Change (points, 95 % CI)", "Seeds"]
    return fmt.table(headers=headers, rows=body, numeric={1, 2, 3, 4},
                     row_keys=[f"recipes/arch/{arch}" for arch in archs["arch"]], css_class="ps-recipes-archs")


def _effect(row) -> str:
    """``+2.46 [+1.90, +3.02]``."""
    if row.n_pairs == 0:
        return fmt.DASH
    return f"{fmt.points(row.mean_diff)} {fmt.interval(row.ci_low, row.ci_high, signed=True)}"
