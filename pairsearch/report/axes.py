"""Which rows of a forest plot share an x axis: differences of like size, so each one is readable.

One axis for differences of 0.5 to 2 points and of −12.5 to +8 squeezes the small ones into a
few pixels. A row's *reach* is how far from 0 its axis must go to show it: the largest absolute
value of its CI (and of its per-run dots, where they are drawn). Rows share an axis when the
largest reach on it is at most :data:`AXIS_RATIO` times the smallest, so every row spans at
least a fifth of its axis's distance from 0; a forest plot draws one panel per axis, each with
its own x range (:mod:`pairsearch.report.forests`).

The analysis layer: every forest's table gets an ``axis`` column (panels numbered from 0 in the
order of their first row, so the panels keep the table's order as far as they can), and
``axis_low`` and ``axis_high``: the range its axis must show (its rows' lowest and highest value,
0 included), fractions like the differences.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pandas as pd

AXIS_RATIO = 4.5  # on one axis, the largest reach is at most this many times the smallest
MAX_AXES = 3  # more would make panels of a row or two
MIN_REACH = 0.01  # one point: no axis narrower than ±1 point (0.1 point is one test pair in 1000)


def axis_groups(
    reaches: Sequence[float], *, ratio: float = AXIS_RATIO, max_axes: int = MAX_AXES, floor: float = MIN_REACH
) -> list[int]:
    """The axis of each row, from the rows' reaches.

    The fewest axes on which no axis's largest reach is more than ``ratio`` times its smallest;
    among those splits, the natural one: the least spread of the reaches' logarithms within each
    axis (Jenks's natural breaks), so the splits fall where the reaches jump. When ``max_axes``
    cannot keep every axis within ``ratio``, the split into ``max_axes`` whose worst axis is
    least bad.

    Args:
        reaches: Each row's reach, ≥ 0; NaN for a row without an interval, which goes on the axis
            of the row before it (of the first row with one when it leads).
        ratio: The largest ratio of reaches on one axis (> 1).
        max_axes: The most axes.
        floor: Reaches below it count as it: differences that small share one axis.

    Returns:
        One axis number per row, numbered 0, 1, … in the order of each axis's first row.
    """
    if ratio <= 1 or max_axes < 1:
        raise ValueError(f"need ratio > 1 and max_axes ≥ 1, got {ratio} and {max_axes}")
    placed = {index: max(float(value), floor) for index, value in enumerate(reaches) if not math.isnan(value)}
    order = sorted(placed, key=lambda index: placed[index])
    values = [placed[index] for index in order]
    cuts: tuple[int, ...] = ()
    for count in range(1, min(max_axes, len(values)) + 1):
        splits = list(itertools.combinations(range(1, len(values)), count - 1))
        readable = [cut for cut in splits if _worst_ratio(values, cut) <= ratio]
        if readable:
            cuts = min(readable, key=lambda cut: _log_spread(values, cut))
            break
        cuts = min(splits, key=lambda cut: _worst_ratio(values, cut))
    group = {index: sum(position >= cut for cut in cuts) for position, index in enumerate(order)}
    raw = _fill_gaps(group, rows=len(reaches))
    numbers = {axis: number for number, axis in enumerate(dict.fromkeys(raw))}
    return [numbers[axis] for axis in raw]


def reach(low: float, high: float) -> float:
    """How far from 0 an axis must go to show the interval [low, high] (NaN: no interval)."""
    if math.isnan(low) or math.isnan(high):
        return math.nan
    return max(abs(low), abs(high))


def with_axes(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (paired comparisons with ``ci_low, ci_high``) with ``axis``, ``axis_low`` and
    ``axis_high``."""
    return _assign(table, lows=list(table["ci_low"]), highs=list(table["ci_high"]))


def with_run_axes(*, run_effects: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """The effects run by run with the axis of their effect (``axis``, ``axis_low``,
    ``axis_high``): each effect spans its runs' values and its CI; the effects are grouped in
    the effects table's order."""
    if run_effects.empty:
        return run_effects.assign(axis=pd.Series(dtype=int), axis_low=pd.Series(dtype=float),
                                  axis_high=pd.Series(dtype=float))
    runs = run_effects.groupby(["factor", "given"])["difference"]
    lowest, highest = runs.min(), runs.max()
    drawn = [key in lowest.index for key in zip(effects["factor"], effects["given"], strict=True)]
    shown = effects.loc[drawn, ["factor", "given", "ci_low", "ci_high"]]
    lows, highs = [], []
    for row in shown.itertuples(index=False):
        key = (row.factor, row.given)
        lows.append(min(lowest.loc[key], row.ci_low) if not math.isnan(row.ci_low) else lowest.loc[key])
        highs.append(max(highest.loc[key], row.ci_high) if not math.isnan(row.ci_high) else highest.loc[key])
    placed = _assign(shown[["factor", "given"]], lows=lows, highs=highs)
    return run_effects.merge(placed, on=["factor", "given"], how="left", sort=False)


def _assign(table: pd.DataFrame, *, lows: list[float], highs: list[float]) -> pd.DataFrame:
    """``axis`` per row, and on every row of an axis its range: the lowest and highest value of
    its rows, 0 included."""
    axes = axis_groups([reach(low, high) for low, high in zip(lows, highs, strict=True)])
    low, high = {}, {}
    for axis in set(axes):
        on_axis = [(lo, hi) for lo, hi, a in zip(lows, highs, axes, strict=True) if a == axis]
        low[axis] = min([0.0, *(lo for lo, _ in on_axis if not math.isnan(lo))])
        high[axis] = max([0.0, *(hi for _, hi in on_axis if not math.isnan(hi))])
    return table.assign(axis=axes, axis_low=[low[a] for a in axes], axis_high=[high[a] for a in axes])


def _worst_ratio(values: list[float], cuts: tuple[int, ...]) -> float:
    """The largest ratio of largest to smallest value in any group of the ascending ``values``
    cut before each position in ``cuts``."""
    bounds = [0, *cuts, len(values)]
    return max(values[end - 1] / values[start] for start, end in itertools.pairwise(bounds))


def _log_spread(values: list[float], cuts: tuple[int, ...]) -> float:
    """The sum over the groups (as :func:`_worst_ratio` cuts them) of the squared deviations of
    the values' logarithms from their group's mean."""
    bounds = [0, *cuts, len(values)]
    spread = 0.0
    for start, end in itertools.pairwise(bounds):
        logs = [math.log(value) for value in values[start:end]]
        mean = sum(logs) / len(logs)
        spread += sum((log - mean) ** 2 for log in logs)
    return spread


def _fill_gaps(group: dict[int, int], *, rows: int) -> list[int]:
    """Every row's axis: a row without one takes the axis of the row before it (of the first row
    with one when it leads)."""
    first = group[min(group)] if group else 0
    filled, current = [], first
    for index in range(rows):
        current = group.get(index, current)
        filled.append(current)
    return filled
