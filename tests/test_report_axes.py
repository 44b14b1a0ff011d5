"""Forest plots on sensible axes: rows of like size share an x axis, each axis is a panel."""

import math

import numpy as np
import pandas as pd
import pytest
from fuzzing import PROFILES, check_property
from hypothesis import strategies as st
from test_report_figures import design_results

from pairsearch.report import axes, design_plots, forests
from pairsearch.report.analysis import analyse
from pairsearch.report.answer import effects_forest, versus_forest
from pairsearch.report.paired import VERDICT_LEGEND
from pairsearch.report.pairwise import pairwise_html

POINT = 0.01  # a difference of one percentage point, as the analysis holds it


@pytest.mark.parametrize("reaches", [[2 * POINT, 10 * POINT], [10 * POINT, 2 * POINT],
                                     [1 * POINT, 1.2 * POINT, 5 * POINT, 5.5 * POINT]])
def test_rows_five_times_apart_never_share_an_axis(reaches):
    groups = axes.axis_groups(reaches)
    smallest, largest = min(reaches), max(reaches)
    assert groups[reaches.index(smallest)] != groups[reaches.index(largest)]


def test_rows_of_like_size_share_one_axis_and_tiny_ones_share_the_smallest():
    assert axes.axis_groups([1.5 * POINT, 2 * POINT, 4 * POINT]) == [0, 0, 0]
    # Below one point a difference counts as one point: no axis of ±0.05 points.
    assert axes.axis_groups([0.05 * POINT, 0.4 * POINT, 3 * POINT]) == [0, 0, 0]
    assert axes.axis_groups([]) == []


def test_axes_are_numbered_in_the_order_of_their_first_row_and_split_where_the_reaches_jump():
    # The committed run's effects, in the effects table's order: weight sharing (three rows), the
    # auxiliary loss (three), the interaction.
    effects = [2.29, 1.53, 1.74, 8.35, 8.0, 7.73, 1.4]
    assert axes.axis_groups([value * POINT for value in effects]) == [0, 0, 0, 1, 1, 1, 0]
    assert axes.axis_groups([10 * POINT, POINT, 11 * POINT]) == [0, 1, 0]


def test_rows_without_an_interval_stay_with_the_row_before_them():
    nan = math.nan
    assert axes.axis_groups([nan, POINT, nan, 10 * POINT, nan]) == [0, 0, 0, 1, 1]
    assert axes.axis_groups([nan, nan]) == [0, 0]


def test_at_most_three_axes_and_bad_arguments_are_refused():
    groups = axes.axis_groups([POINT, 10 * POINT, 100 * POINT, 1000 * POINT])
    assert len(set(groups)) == axes.MAX_AXES == 3
    assert axes.axis_groups([POINT, 10 * POINT], max_axes=1) == [0, 0]
    with pytest.raises(ValueError):
        axes.axis_groups([POINT], ratio=1.0)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_axis_keeps_its_rows_readable_whenever_three_axes_can(profile):
    """Property: when three axes of ratio 4.5 can hold the rows, the fewest such axes are used
    and no axis holds rows further apart than that; axes are numbered by their first row."""
    reaches = st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=1, max_size=25)

    def check(values: list[float]) -> None:
        groups = axes.axis_groups(values)
        assert sorted(set(groups)) == list(range(len(set(groups))))
        assert groups[0] == 0
        floored = [max(value, axes.MIN_REACH) for value in values]
        needed = _fewest_windows(floored)
        if needed <= axes.MAX_AXES:
            assert len(set(groups)) == needed
            for axis in set(groups):
                on_axis = [value for value, group in zip(floored, groups, strict=True) if group == axis]
                assert max(on_axis) / min(on_axis) <= axes.AXIS_RATIO

    check_property(profile=profile, strategy=reaches, check=check)


def _fewest_windows(values: list[float]) -> int:
    """How many windows of ratio AXIS_RATIO cover the values (greedy from the smallest: optimal)."""
    count, start = 0, None
    for value in sorted(values):
        if start is None or value / start > axes.AXIS_RATIO:
            count, start = count + 1, value
    return count


@pytest.fixture(scope="module")
def analysis():
    """The 2×2 four and joint: sharing +2 points, the auxiliary loss +5, joint 12 below."""
    return analyse(results=design_results())


def test_every_forest_table_and_the_runs_carry_their_axis_and_its_range(analysis):
    for table in (analysis.effects, analysis.versus, analysis.comparisons):
        for _, rows in table.groupby("axis"):
            assert (rows["axis_low"] <= rows["ci_low"].clip(upper=0)).all()
            assert (rows["axis_high"] >= rows["ci_high"].clip(lower=0)).all()
            assert rows["axis_low"].nunique() == rows["axis_high"].nunique() == 1
    comparisons = analysis.comparisons.set_index(["arch_a", "arch_b"])["axis"]
    # Within the design, differences of 2 to 7 points; against joint, 12 to 19: two panels.
    assert comparisons.loc[("base", "sep")] != comparisons.loc[("joint", "base_aux")]
    runs = analysis.run_effects
    assert runs["axis"].notna().all()
    for _, effect in runs.groupby(["factor", "given"]):
        assert effect["axis_low"].iloc[0] <= min(0, effect["difference"].min())
        assert effect["axis_high"].iloc[0] >= max(0, effect["difference"].max())


def test_rows_of_one_size_get_one_axis_and_its_range():
    rows = pd.DataFrame({"ci_low": [0.01, -0.005, np.nan], "ci_high": [0.03, 0.02, np.nan]})
    placed = axes.with_axes(rows)
    assert list(placed["axis"]) == [0, 0, 0]
    assert placed["axis_low"].iloc[0] == -0.005 and placed["axis_high"].iloc[0] == 0.03


def test_the_pairwise_forest_draws_each_axis_as_a_panel_of_its_own_range(analysis):
    comparisons = analysis.comparisons
    labels = [f"{row.arch_a} − {row.arch_b}" for row in comparisons.itertuples(index=False)]
    figure = forests.forest(labels=labels, rows=list(comparisons.itertuples(index=False)), title="t", subtitle="s")
    panels = comparisons["axis"].nunique()
    assert panels >= 2
    layout = figure.layout
    for axis, rows in comparisons.groupby("axis"):
        name = "" if axis == 0 else str(axis + 1)
        xaxis, yaxis = layout[f"xaxis{name}"], layout[f"yaxis{name}"]
        # The row labels of this panel, in the table's order, on their own line inside the plot.
        expected = [f"{row.arch_a} − {row.arch_b}" for row in rows.itertuples(index=False)]
        assert list(yaxis.ticktext) == expected
        assert yaxis.ticklabelposition == "inside"
        marks = [trace for trace in figure.data if trace.mode == "markers" and trace.xaxis == f"x{name}"]
        assert len(marks) == len(rows)
        low, high = xaxis.range
        assert low <= 100 * rows["ci_low"].min() and high >= 100 * rows["ci_high"].max()
        assert low < 0 < high  # every panel shows 0, its dashed line
        # Each label sits above its marker, not on the marker's line.
        for tick, trace in zip(yaxis.tickvals, marks, strict=True):
            assert tick < trace.y[0]
    assert [a.text.split(")")[0] for a in layout.annotations] == [f"({c}" for c in "abc"[:panels]]
    assert "own x scale" in layout.title.subtitle.text
    assert layout.xaxis.title.text == "" and layout[f"xaxis{panels}"].title.text.startswith("difference")
    # One legend entry per verdict shown, over all the panels.
    legend = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert sorted(legend) == sorted({VERDICT_LEGEND[verdict] for verdict in comparisons["verdict"]})
    assert figure.layout.height == forests.Panels(
        labels=labels, axes=list(comparisons["axis"]),
        ranges=list(zip(comparisons["axis_low"], comparisons["axis_high"], strict=True))).height


def test_every_forest_of_the_report_uses_the_panels(analysis):
    figures = {
        "effects": effects_forest(effects=analysis.effects),
        "versus": versus_forest(versus=analysis.versus),
        "runs": design_plots.run_effects_figure(run_effects=analysis.run_effects, effects=analysis.effects),
    }
    for name, figure in figures.items():
        assert figure.layout.yaxis.ticklabelposition == "inside", name
        assert figure.layout.height > 0, name
    # Sharing +2 and the interaction near 0 against the auxiliary loss +5: two panels.
    assert analysis.effects["axis"].nunique() == 2
    assert figures["effects"].layout.xaxis2.range is not None
    assert 'id="ps-plot-pairwise-forest"' in pairwise_html(comparisons=analysis.comparisons)


def test_one_panel_and_no_panel_titles_when_the_rows_are_of_one_size():
    panels = forests.Panels(labels=["a", "b<br>b", "c"], axes=[0, 0, 0], ranges=[(-0.005, 0.03)] * 3)
    figure = panels.draw(panels.figure(), title="t", subtitle="s")
    assert not figure.layout.annotations and figure.layout.title.subtitle.text == "s"
    assert list(figure.layout.xaxis.range) == pytest.approx([-0.71, 3.21])
    # In lines of text from the top: each row's label (two lines for "b<br>b"), then its marks'
    # 1.2 lines (their middle is the row's y), then half a line to the next row.
    assert [place.y for place in panels.places] == pytest.approx([0.25 + 1 + 0.6, 2.95 + 2 + 0.6, 6.65 + 1 + 0.6])
    assert list(figure.layout.yaxis.tickvals) == pytest.approx([0.25 + 0.5, 2.95 + 1, 6.65 + 0.5])
