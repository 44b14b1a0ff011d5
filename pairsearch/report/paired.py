"""What every paired comparison shows, wherever it appears: its name, its cells, its CI in
words, and its verdict's colour and marker (:mod:`pairsearch.report.forests` draws the plots).

Rows are those of :data:`pairsearch.report.stats.PAIRED_COLUMNS` tables; where a row is
coloured by its verdict, it carries the ``verdict`` column the analysis adds.
"""

from __future__ import annotations

from pairsearch.report import formatting as fmt
from pairsearch.report.stats import INTERACTION

FACTOR_NAMES = {"shared_weights": "weight sharing", "aux_loss": "the auxiliary loss"}
GIVEN_NAMES = {
    ("shared_weights", "without"): "without the auxiliary loss",
    ("shared_weights", "with"): "with the auxiliary loss",
    ("aux_loss", "without"): "with separate weights",
    ("aux_loss", "with"): "with shared weights",
}
QUESTIONS = {
    "shared_weights": "Does weight sharing help?",
    "aux_loss": "Does the auxiliary loss help?",
    INTERACTION: "Do the two effects add up?",
}
# Each ≥ 4.5:1 against white; the legend says what each colour means.
VERDICT_COLOURS = {"higher": "#1a7f37", "lower": "#cf222e", "unclear": "#57606a"}
VERDICT_LEGEND = {"higher": "95 % CI above 0", "lower": "95 % CI below 0", "unclear": "95 % CI includes 0"}
VERDICT_SYMBOLS = {"higher": "triangle-right", "lower": "triangle-left", "unclear": "diamond"}
PAIRED_HEADERS = ["Searches × seeds", "Mean (points)", "95 % CI (points)", "P(better) over searches",
                  "Share won", "Tuning share", "d_z"]


def paired_cells(row) -> list[str]:
    """The cells of :data:`PAIRED_HEADERS` for one paired comparison."""
    better = fmt.DASH if row.level != "searches" else (
        f"{row.p_better:.2f} [{row.p_better_low:.2f}, {row.p_better_high:.2f}]")
    return [runs_text(runs=row.n_pairs, searches=row.n_searches), fmt.points(row.mean_diff),
            fmt.interval(row.ci_low, row.ci_high, signed=True),
            better, fmt.share(row.share_won), fmt.share(row.tuning_share), fmt.effect_size(row.effect_size)]


def runs_text(*, runs: int, searches: int) -> str:
    """``5 × 3``: searches × seeds per search; ``14 runs`` when the searches have unequal seeds."""
    if runs == 0:
        return "0"
    per_search = runs / searches
    return f"{searches} × {per_search:.0f}" if per_search == int(per_search) else f"{runs} runs"


def effect_label(row) -> str:
    """:func:`effect_name` on two lines, for a plot's axis: ``Weight sharing,<br>average``."""
    return effect_name(row).replace(", ", ",<br>", 1)


def effect_name(row) -> str:
    """``Weight sharing, with the auxiliary loss``, ``…, average``, or ``Interaction``."""
    if row.factor == INTERACTION:
        return "Interaction"
    name = FACTOR_NAMES[row.factor]
    given = "average" if row.given == "average" else GIVEN_NAMES[(row.factor, row.given)]
    return f"{name[0].upper()}{name[1:]}, {given}"


def ci_text(row) -> str:
    """``95 % CI +1.90 to +3.02``."""
    return f"95 % CI {fmt.points(row.ci_low)} to {fmt.points(row.ci_high)}"
