"""What each paired comparison says: its verdict, and what happened to an effect between recipes.

A verdict is the sign of the mean where the 95 % CI excludes 0, and ``unclear`` where it does
not. Between two recipes, an effect's reading goes signs first: it **changes sign** only when
both recipes are clear (95 % CI excluding 0) in opposite directions; it **vanishes** (or
**appears**) when it is clear under the first recipe only (or the second only); with the same
clear sign under both it **grows** or **shrinks** when the change's own 95 % CI excludes 0 (the
interval the report shows, uncorrected like every interval of the answer), and else **holds**;
clear under neither, it is **unclear under both**.
"""

from __future__ import annotations

import pandas as pd

VERDICTS = ("higher", "lower", "unclear")


def verdict(row) -> str:
    """``higher``, ``lower`` or ``unclear``: where the 95 % CI of the difference lies."""
    if row.ci_low > 0:
        return "higher"
    if row.ci_high < 0:
        return "lower"
    return "unclear"


def with_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (paired comparisons with ``ci_low, ci_high``) with a ``verdict`` column per row."""
    return table.assign(verdict=[verdict(row) for row in table.itertuples(index=False)])


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
    if verdict(change) == "unclear":
        return "holds"
    return "grows" if verdict(change) == second else "shrinks"
