import html
import json
import re
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import plotly.offline
import pytest
from conftest import label_tuned, learning_curves, quadratic_study

from pairsearch.report import (
    accuracy,
    answer,
    axes,
    document,
    formatting,
    readings,
    recipe_stats,
    statistics,
    stats,
    verdicts,
)
from pairsearch.report.analysis import Analysis, analyse
from pairsearch.report.facts import RecipePair
from pairsearch.report.studies import read_studies
from pairsearch.report.writer import write_report
from pairsearch.training.recipes import Recipe

ARCHS = ["base", "sep_aux", "digits"]
SEEDS = [0, 1, 2, 3]
EPOCHS = [1, 2, 3]
SECTION_HEADINGS = [
    "The answer",
    "Test accuracy per arch",
    "Pairwise comparisons",
    "Learning curves",
    "Protocol and provenance of the runs",
    "Tuning provenance",
    "Best parameters",
    "Caveats",
]


def synthetic_results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {
            "arch": arch,
            "seed": seed,
            "test_accuracy": 0.8 + 0.05 * index + 0.01 * rng.standard_normal(),
            "seconds": 4.0 + index,
            "n_parameters": 10_000 * (index + 1),
            "params": json.dumps({"lr": 1e-3 * (index + 1), "channels": 32, "dropout": 0.1}),
        }
        for index, arch in enumerate(ARCHS)
        for seed in SEEDS
    ]
    return pd.DataFrame(rows)


def synthetic_curves() -> pd.DataFrame:
    return learning_curves(archs=ARCHS, seeds=SEEDS, epochs=EPOCHS, rng=np.random.default_rng(1))


def flat_study(*, name: str, n_trials: int) -> optuna.Study:
    """Every trial scores the same, as when every configuration is stuck at chance."""
    study = optuna.create_study(
        study_name=name, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(
        lambda trial: 0.55 + 0 * trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        n_trials=n_trials,
    )
    return study


BASE_SPEC = {
    "arch": "base",
    "epochs": 3,
    "seed": 0,
    "fixed": {},
    "space": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True, "step": None,
         "choices": None},
        {"name": "channels", "type": "int", "low": 8, "high": 64, "log": False, "step": None,
         "choices": None},
    ],
    "sampler": {"name": "random"},
    "pruner": {"name": "median", "n_startup_trials": 10, "n_warmup_steps": 3},
}
PROTOCOL = {
    "data source": "mnist5k",
    "fingerprint": "abc123",
    "training pairs": 1000,
    "test pairs": 1000,
    "epochs": 3,
    "seeds": "0–3",
    "note": "<script>alert('x')</script>",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base_study = label_tuned(quadratic_study(name="base-tune", n_trials=8), arch="base", spec=BASE_SPEC)
    shifted_study = label_tuned(quadratic_study(name="sep_aux-tune", n_trials=1), arch="sep_aux",
                                recipe_record=Recipe(name="strong", epochs=25, max_shift=1).to_record())
    digits_study = label_tuned(flat_study(name="digits-tune", n_trials=3), arch="digits")
    studies = {"base": base_study, "sep_aux": shifted_study, "digits": digits_study}
    out_dir = tmp_path_factory.mktemp("report") / "nested"
    return write_report(
        out_dir=out_dir,
        results=synthetic_results(),
        curves=synthetic_curves(),
        protocol=PROTOCOL,
        studies=read_studies(studies=studies),
    )


@pytest.fixture(scope="module")
def page(written) -> str:
    return written["report_html"].read_text(encoding="utf-8")


def test_all_files_are_written(written):
    assert set(written) == {
        "results_csv",
        "curves_csv",
        "summary_md",
        "pairwise_csv",
        "effects_csv",
        "report_html",
    }
    assert all(path.is_file() for path in written.values())


def test_csv_files_hold_the_data(written):
    results = pd.read_csv(written["results_csv"])
    curves = pd.read_csv(written["curves_csv"])
    pairwise = pd.read_csv(written["pairwise_csv"])
    effects = pd.read_csv(written["effects_csv"])

    assert len(results) == len(ARCHS) * len(SEEDS)
    assert list(results.columns) == list(synthetic_results().columns)
    assert len(curves) == len(ARCHS) * len(SEEDS) * len(EPOCHS)
    assert len(pairwise) == 3
    assert list(pairwise.columns) == ["group", *stats.PAIRWISE_COLUMNS]
    assert list(effects.columns) == document.EFFECTS_CSV_COLUMNS
    assert "recipe" in document.EFFECTS_CSV_COLUMNS
    # Only base and sep_aux of the 2×2 ran: no effect can be estimated, each says why.
    assert effects["missing"].notna().all() and effects["mean_diff"].isna().all()


def summary_table_lines(written) -> list[str]:
    """summary.md from the per-arch table's caption on (the answer comes first)."""
    lines = written["summary_md"].read_text(encoding="utf-8").splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("Test accuracy (%) after the last epoch")]
    assert len(start) == 1, lines
    return lines[start[0]:]


def test_summary_markdown_has_a_caption_and_one_row_per_arch_in_report_order(written):
    text = written["summary_md"].read_text(encoding="utf-8")
    lines = summary_table_lines(written)
    arch_rows = [line for line in lines[4:] if line.startswith("|")]

    # The file opens with the answer; the per-arch table is its last part.
    assert text.startswith("## The answer\n")
    assert text.index("**Does weight sharing help?**") < text.index("Test accuracy (%) after the last epoch")
    # One search per arch: the caption says the CI is over its seeds and leaves tuning luck out.
    assert "95 % CI: t interval over the seeds of one search per arch" in lines[0]
    assert "excludes tuning luck" in lines[0]
    assert lines[1] == ""
    assert lines[2].startswith("| Arch | Rank |")
    assert "| Searches × seeds | SD search / seed (points) |" in lines[2]
    assert [row.split("|")[1].strip() for row in arch_rows] == ARCHS
    assert [row.split("|")[7].strip() for row in arch_rows] == ["1 × 4"] * len(ARCHS)  # 1 search × 4 seeds
    assert all(row.split("|")[8].strip().startswith(f"{formatting.DASH} / ") for row in arch_rows)
    # digits has the highest synthetic accuracy: rank 1, though listed last.
    assert arch_rows[-1].split("|")[2].strip() == "1"


def summary_row(**values) -> dict:
    return {"arch": "base", "n": 15, "n_searches": 3, "level": "searches", "mean": 0.8871, "std": 0.0048,
            "median": 0.888, "iqm": 0.8875, "ci_low": 0.885, "ci_high": 0.8895, "sd_search": 0.0031,
            "sd_seed": 0.0036, "rank": 1, **values}


def test_a_markdown_table_aligns_its_columns_and_escapes_pipes():
    lines = formatting.markdown_table(headers=["Arch", "Mean", "CI"], rows=[["a|b", "1.00", "[0, 2]"]],
                                      numeric={1}, centred={2})
    assert lines == ["| Arch | Mean | CI |", "|:---|---:|:---:|", r"| a\|b | 1.00 | [0, 2] |"]


def test_summary_markdown_formats_percentages():
    summary = pd.DataFrame(
        [summary_row(), summary_row(arch="sep", n=14, mean=0.8512, rank=2)], columns=stats.SUMMARY_COLUMNS
    )

    text = accuracy.summary_markdown(summary=summary)

    lines = text.splitlines()
    assert lines[2].endswith("| Searches × seeds | SD search / seed (points) |")
    assert lines[4] == "| base | 1 | 88.71 ± 0.48 | [88.50, 88.95] | 88.80 | 88.75 | 3 × 5 | 0.31 / 0.36 |"
    # 14 runs cannot be 3 searches of equal seeds (a diverged run): the runs are counted instead.
    assert lines[5] == "| sep | 2 | 85.12 ± 0.48 | [88.50, 88.95] | 88.80 | 88.75 | 14 runs | 0.31 / 0.36 |"
    assert "95 % CI: t interval over the searches (K − 1 degrees of freedom)" in lines[0]
    assert "excludes tuning luck" not in lines[0]

    one_search = pd.DataFrame([summary_row(n_searches=1, level="seeds", sd_search=np.nan)],
                              columns=stats.SUMMARY_COLUMNS)
    text = accuracy.summary_markdown(summary=one_search)

    assert text.splitlines()[4] == (
        f"| base | 1 | 88.71 ± 0.48 | [88.50, 88.95] | 88.80 | 88.75 | 1 × 15 | {formatting.DASH} / 0.36 |"
    )
    assert "95 % CI: t interval over the seeds of one search per arch" in text.splitlines()[0]


def test_summary_markdown_adds_the_earlier_projects_best_epoch_protocol_as_a_last_column(written):
    lines = summary_table_lines(written)

    assert "Best epoch: each seed's highest test accuracy over the epochs" in lines[0]
    assert lines[2].endswith("| SD search / seed (points) | Best epoch (%) |")
    assert lines[3].count("|") == 10
    rows = [row for row in lines[4:] if row.startswith("|")]
    assert len(rows) == len(ARCHS) and all(row.count("|") == 10 for row in rows)  # 9 cells


def test_summary_markdown_best_epoch_is_the_mean_of_each_seeds_highest_epoch():
    curves = pd.DataFrame(
        [{"arch": "base", "seed": seed, "epoch": epoch, "test_accuracy": accuracy}
         for seed, by_epoch in ((0, [0.80, 0.90, 0.85]), (1, [0.70, 0.88, 0.86]))
         for epoch, accuracy in enumerate(by_epoch, start=1)]
    )
    last = stats.summarize(results=curves[curves["epoch"] == 3])
    best = stats.summarize(results=stats.best_epoch_results(curves=curves, results=curves))

    text = accuracy.summary_markdown(summary=last, best_epoch=best)

    row = text.splitlines()[4].split("|")
    assert row[3].strip() == "85.50 ± 0.71"  # after the last epoch: (85 + 86) / 2
    assert row[-2].strip() == "89.00 ± 1.41"  # the best epochs: (90 + 88) / 2


def test_html_loads_nothing_from_the_network(page):
    # plotly.js's own code holds URL strings (logo link, map attributions) that it never
    # fetches for these plots, so look at the page around it.
    page_without_plotly_js = page.replace(plotly.offline.get_plotlyjs(), "")

    assert len(page_without_plotly_js) < len(page)
    assert (
        re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page_without_plotly_js, re.IGNORECASE)
        is None
    )
    assert "http://" not in page_without_plotly_js
    assert "https://" not in page_without_plotly_js


def test_html_embeds_plotly_js_exactly_once(page):
    assert page.count("plotly.js v") == 1
    assert page.count("<script") == page.count("</script>")


def test_html_has_every_section(page):
    for heading in SECTION_HEADINGS:
        assert f"<h2>{heading}</h2>" in page


def test_html_plots_have_stable_unique_ids(page):
    ids = re.findall(r'<div class="ps-plot" id="([^"]+)"', page)

    # Three forest plots (effects, other archs, pairwise), the interaction plot (no run has all
    # four archs: no effects run by run), per-seed plot, four learning curves, accuracy vs
    # parameters, history of the three studies and importances of the 8-trial one.
    assert len(ids) == 14
    assert len(set(ids)) == len(ids)
    for plot_id in ["answer-forest", "versus-forest", "interaction", "accuracy-by-arch", "pairwise-forest", "curve-train_loss",
                    "curve-digit_accuracy", "accuracy-vs-parameters", "history-digits"]:
        assert f"ps-plot-{plot_id}" in ids


def test_html_plot_titles_say_what_is_shown(page):
    titles = re.findall(r'"subtitle":\{"text":"[^"]*"\},"text":"([^"]+)"', page)

    assert page.count('"subtitle":{"text":') == 14  # every plot has a title and a subtitle

    assert "Effects on test accuracy, with 95 % CIs" in titles
    assert "base: validation accuracy of the tuning trials" in titles
    assert not any(title.startswith("Optimization History") for title in titles)


def test_html_notes_a_study_with_too_few_trials_for_importances(page):
    assert (
        "sep_aux: hyperparameter importances need at least 2 complete trials; "
        "this study has 1." in page
    )


def test_html_notes_importances_that_would_all_be_equal(page):
    # The evaluator cannot tell parameters apart when every trial scores the same.
    assert "digits: hyperparameter importances unavailable:" in page
    assert "ps-plot-importance-digits" not in page


def test_html_escapes_text_from_the_data(page):
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_html_escapes_an_arch_label_everywhere(tmp_path):
    label = "</script><script>alert(1)</script>"
    results = synthetic_results().replace({"arch": {"digits": label}})
    curves = synthetic_curves().replace({"arch": {"digits": label}})

    paths = write_report(
        out_dir=tmp_path, results=results, curves=curves, protocol={}, studies={}
    )

    page = paths["report_html"].read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_per_arch_table_has_the_best_epoch_column_of_summary_md(page, written):
    table = page[page.index('id="accuracy"'):page.index('id="pairwise"')]
    text = html.unescape(re.sub(r"<[^>]+>", " ", table))

    headers = re.findall(r"<th>(.*?)</th>", table)
    markdown = next(line for line in written["summary_md"].read_text().splitlines() if line.startswith("| Arch |"))
    assert headers == [html.escape(cell.strip()) for cell in markdown.strip("|").split("|")]
    assert headers[-1] == "Best epoch (%)"
    assert accuracy.BEST_EPOCH_CAPTION in text
    assert accuracy.BEST_EPOCH_CAPTION in written["summary_md"].read_text()


def test_share_won_is_not_shown_for_the_interaction():
    results = pd.concat([factorial_results(sharing=0.03, aux=0.06).assign(search=search) for search in range(3)])
    analysis = analyse(results=results)
    table = answer.effects_table(effects=analysis.effects)
    interaction = table[table.index('data-key="interaction"'):]
    interaction = interaction[:interaction.index("</tr>")]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", interaction)
    won = [1 + answer.PAIRED_HEADERS.index(header) for header in ("Share won", "P(better) over searches")]

    assert [cells[index] for index in won] == [formatting.DASH] * 2
    assert "Share won and P(better) are not shown for the interaction" in answer.level_caption(analysis.effects)
    markdown = answer.answer_markdown(effects=analysis.effects, versus=analysis.versus, summary=analysis.summary)
    row = next(line for line in markdown.splitlines() if line.startswith("| Interaction"))
    assert [row.split("|")[1 + index].strip() for index in won] == [formatting.DASH] * 2
    average = next(line for line in markdown.splitlines() if line.startswith("| Weight sharing, average"))
    assert all(average.split("|")[1 + index].strip() != formatting.DASH for index in won)


def test_one_search_captions_carry_no_number_of_another_run():
    analysis = analyse(results=factorial_results(sharing=0.03, aux=0.06))

    assert "about a point" not in answer.level_caption(analysis.effects)


def test_html_tables_show_summary_and_best_params(page):
    assert "Mean ± std (%)" in page
    assert "Holm p" in page
    assert "30 k" in page  # n_parameters of the third arch
    assert "<td>lr</td>" in page


def test_report_of_one_arch_says_what_cannot_be_compared(tmp_path):
    results = synthetic_results()
    curves = synthetic_curves()

    paths = write_report(
        out_dir=tmp_path, results=results[results["arch"] == "digits"],
        curves=curves[curves["arch"] == "digits"], protocol={}, studies={},
    )

    page = html.unescape(paths["report_html"].read_text(encoding="utf-8"))
    assert (
        "Does weight sharing help?</strong> Unclear, it cannot be answered: no results for base, base_aux, "
        "sep, sep_aux." in page
    )
    assert "none of the four archs of the 2×2 design has results" in page
    assert "Only one arch has results: there is no pair to compare." in page
    assert pd.read_csv(paths["pairwise_csv"]).empty


def test_report_without_studies_says_so(tmp_path):
    paths = write_report(
        out_dir=tmp_path,
        results=synthetic_results(),
        curves=synthetic_curves(),
        protocol={"data source": "mnist5k"},
        studies={},
    )

    assert "No tuning studies were given." in paths["report_html"].read_text(encoding="utf-8")


# --- the answer -------------------------------------------------------------------------------


def factorial_results(
    *, sharing: float, aux: float, aux_wobble: float = 0.0, seeds: int = 8
) -> pd.DataFrame:
    """The 2×2 four plus joint: sharing and aux add ``sharing`` / ``aux`` to accuracy; the aux
    loss adds ``±aux_wobble`` more, by turns from seed to seed."""
    rng = np.random.default_rng(2)
    cells = {"base": (1, 0), "base_aux": (1, 1), "sep": (0, 0), "sep_aux": (0, 1), "joint": None}
    rows = []
    for seed in range(seeds):
        seed_level = 0.85 + 0.01 * rng.standard_normal()
        for arch, cell in cells.items():
            aux_gain = aux + aux_wobble * (-1) ** seed
            gain = 0.05 if cell is None else sharing * cell[0] + aux_gain * cell[1]
            accuracy = seed_level + gain + 0.004 * rng.standard_normal()
            rows.append({"arch": arch, "seed": seed, "test_accuracy": accuracy, "seconds": 1.0,
                         "n_parameters": 1000, "params": "{}"})
    return pd.DataFrame(rows)


def answer_of(results: pd.DataFrame) -> tuple[str, Analysis]:
    analysis = analyse(results=results)
    text = answer.answer_html(
        effects=analysis.effects, versus=analysis.versus, summary=analysis.summary
    )
    return html.unescape(re.sub(r"<[^>]+>", "", text)), analysis


def test_answer_sentences_follow_the_numbers():
    text, analysis = answer_of(factorial_results(sharing=0.03, aux=0.0, aux_wobble=0.02))
    effects = analysis.effects.set_index(["factor", "given"])
    sharing = effects.loc[("shared_weights", "average")]

    assert "Does weight sharing help? Yes: weight sharing raises test accuracy by " in text
    assert f"by {100 * sharing['mean_diff']:.2f} points on average" in text
    assert (
        f"95 % CI {formatting.points(sharing['ci_low'])} to "
        f"{formatting.points(sharing['ci_high'])}" in text
    )
    assert "Does the auxiliary loss help? Unclear: " in text
    assert "the CI includes 0" in text
    assert "Do the two effects add up? Unclear: the data do not show an interaction" in text
    assert "Against sep, the best of the four" not in text
    best = analysis.versus.loc[0, "reference"]  # shared weights, and the aux loss's ±2 points by turns
    assert f"Does another arch beat the best of the four? Yes. Against {best}, the best of the four" in text
    assert "joint better" in text


def test_one_arch_against_the_best_of_the_four_has_one_plain_interval():
    """Bonferroni over one comparison is no correction: the sentence says "a 95 % CI", and with two
    archs outside the design both intervals are said to be simultaneous over the 2 comparisons."""
    archs = ["base", "base_aux", "sep", "sep_aux", "joint", "split"]
    rows = [{"arch": arch, "seed": seed, "test_accuracy": 0.80 + 0.01 * i + 0.002 * ((seed * (i + 1)) % 5)}
            for i, arch in enumerate(archs) for seed in range(6)]
    results = pd.DataFrame(rows)
    means = results.groupby("arch")["test_accuracy"].mean().to_dict()
    one = verdicts.with_verdicts(stats.versus_best(results=results[results["arch"] != "split"]))
    two = verdicts.with_verdicts(stats.versus_best(results=results))
    assert list(one["arch"]) == ["joint"] and list(two["arch"]) == ["joint", "split"]
    assert "each on the searches and seeds both have, with a 95 % CI: joint " in answer.versus_sentence(
        versus=one, means=means)
    assert "with 95 % CIs simultaneous over the 2 comparisons: joint " in answer.versus_sentence(versus=two, means=means)
    titles = [answer.versus_forest(versus=axes.with_axes(versus)).layout.title for versus in (one, two)]
    assert "with its 95 % CI" in titles[0].text and "Bonferroni" not in titles[0].subtitle.text
    assert "with simultaneous 95 % CIs" in titles[1].text and "Bonferroni over the archs" in titles[1].subtitle.text


def test_answer_says_when_a_factor_hurts():
    text, _ = answer_of(factorial_results(sharing=-0.03, aux=0.04))

    assert re.search(
        r"Does weight sharing help\? No, it hurts: weight sharing lowers test accuracy by "
        r"\d\.\d\d points on average \(95 % CI −\d", text
    )
    assert "Does the auxiliary loss help? Yes" in text


def test_answer_says_what_cannot_be_answered():
    results = factorial_results(sharing=0.03, aux=0.02)
    text, _ = answer_of(results[~results["arch"].isin(["sep", "sep_aux"])])

    assert "Does weight sharing help? Unclear, it cannot be answered: no results for sep, sep_aux." in text
    assert (
        "Does the auxiliary loss help? Unclear: only in part (no results for sep, sep_aux, so no "
        "average): with shared weights, the auxiliary loss changes test accuracy by +" in text
    )
    assert "Do the two effects add up? Unclear, it cannot be answered: it needs all four archs" in text

    text, _ = answer_of(results[results["arch"] == "joint"])
    assert "none of the four archs of the 2×2 design has results" in text

    text, _ = answer_of(results[results["arch"].isin(["base", "base_aux", "sep", "sep_aux"])])
    assert "Does another arch beat the best of the four? Not asked: no arch outside the 2×2 design" in text
    assert "none of the four archs" not in text


def test_pairwise_table_leads_with_the_comparisons_that_answer_the_questions():
    _, analysis = answer_of(factorial_results(sharing=0.03, aux=0.02))
    comparisons = analysis.comparisons
    leading = list(zip(comparisons["arch_a"], comparisons["arch_b"], strict=True))[:5]

    assert leading == [
        ("base", "sep"), ("base_aux", "sep_aux"), ("base_aux", "base"), ("sep_aux", "sep"),
        ("joint", "base_aux"),
    ]
    assert list(comparisons["group"][:5]) == [
        "shared_weights", "shared_weights", "aux_loss", "aux_loss", "versus"
    ]
    assert len(comparisons) == 10 and set(comparisons["group"][5:]) == {"rest"}
    np.testing.assert_allclose(
        comparisons["holm_p"], statistics.holm_adjust(p_values=comparisons["p_value"].to_numpy())
    )


def test_a_study_not_named_after_its_arch_plays_its_cell():
    results = factorial_results(sharing=0.03, aux=0.02)
    results["arch"] = results["arch"].replace({"sep": "sep-wide"})
    study = label_tuned(optuna.create_study(study_name="sep-wide", direction="maximize"), arch="sep")

    analysis = analyse(results=results, studies=read_studies(studies={"sep-wide": study}))

    assert "sep-wide" in analysis.design
    assert analysis.effects["n_pairs"].min() == 8
    assert analysis.archs == ["base", "base_aux", "sep-wide", "sep_aux", "joint"]


# --- provenance -------------------------------------------------------------------------------


def test_run_provenance_is_recorded_per_job_and_differences_are_said(tmp_path):
    results = synthetic_results()
    results["device"] = np.where(results["arch"] == "digits", "cpu", "cuda")
    results["torch"] = "2.11.0+cu130"
    results.loc[0, "host"] = "node-1"

    page = write_report(
        out_dir=tmp_path, results=results, curves=synthetic_curves(),
        protocol={"data source": "mnist5k", "device": "cpu", "torch": "9.9.9"}, studies={},
    )["report_html"].read_text(encoding="utf-8")

    assert "<td>2.11.0+cu130 (all 12 jobs)</td>" in page
    assert (
        "The device differs across jobs: cpu: digits (4 jobs); cuda: base, sep_aux (8 jobs)."
        in page
    )
    assert "The host differs across jobs: node-1: base (1 job); not recorded: base, " in page
    assert "<td>python</td><td>not recorded (these jobs predate per-job records)</td>" in page
    # The writing process's facts are shown apart, never as the runs'.
    writer = page[page.index("Process that wrote this report"):]
    assert "<td>torch</td><td>9.9.9</td>" in writer
    assert "9.9.9" not in page[: page.index("Process that wrote this report")]


def test_tuning_provenance_shows_the_stored_spec_and_the_trials(page):
    assert "<td>Trials complete / pruned / failed</td>" in page
    assert "<td class=\"num\">8 / 0 / 0</td>" in page
    assert (
        "<td>pruner</td><td>median (n_startup_trials 10, n_warmup_steps 3)</td><td>base</td>"
        in page
    )
    # How the trials trained: a study without a recorded recipe ran the course's training.
    assert "<td>trials trained under</td><td>recipe course (no augmentation)</td><td>base, digits</td>" in page
    assert ("<td>trials trained under</td><td>recipe strong (training images shifted by up to 1 px)</td>"
            "<td>sep_aux</td>") in page


# --- the answer under two training recipes ----------------------------------------------------


def retrained(results: pd.DataFrame, *, gains: dict[str, float]) -> pd.DataFrame:
    """The same archs and seeds trained another way: each arch gains ``gains[arch]``, plus noise."""
    rng = np.random.default_rng(5)
    moved = results.copy()
    noise = 0.004 * rng.standard_normal(len(moved))
    moved["test_accuracy"] = moved["test_accuracy"] + moved["arch"].map(gains).fillna(0.0) + noise
    return moved


def recipe_pair(before: pd.DataFrame) -> RecipePair:
    return RecipePair(
        recipe_name="strong", recipe_summary="strong (25 epochs, training images shifted by up to 1 px)",
        baseline="course", baseline_summary="course (10 epochs, no augmentation)", baseline_results=before,
    )


def recipe_answer(*, before: pd.DataFrame, after: pd.DataFrame) -> tuple[str, Analysis]:
    analysis = analyse(results=after, recipes=recipe_pair(before))
    text = readings.recipes_html(pair=analysis.recipes, comparison=analysis.by_recipe)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))), analysis


def test_both_recipes_say_whether_each_conclusion_holds_grows_shrinks_or_changes_sign():
    before = factorial_results(sharing=0.03, aux=0.06)

    grown, analysis = recipe_answer(before=before, after=retrained(before, gains={"base": 0.03, "base_aux": 0.03}))
    assert "Does the effect of weight sharing hold under strong? Yes, and it grows: +" in grown
    assert "Does the effect of the auxiliary loss hold under strong? Yes, with the same size: +" in grown
    change = analysis.by_recipe.effects.set_index(["recipe", "factor", "given"]).loc[
        ("change", "shared_weights", "average")]
    assert 0.02 < change["mean_diff"] < 0.04 and change["ci_low"] > 0
    assert f"the change, {formatting.points(change['mean_diff'])} points" in grown
    assert "Holm" not in grown  # one rule: the change's 95 % CI, as shown in the table

    shrunk, _ = recipe_answer(before=before, after=retrained(before, gains={"sep": 0.02, "sep_aux": 0.02}))
    assert "Does the effect of weight sharing hold under strong? Yes, but it shrinks" in shrunk
    flipped, _ = recipe_answer(before=before, after=retrained(before, gains={"sep": 0.06, "sep_aux": 0.06}))
    assert "Does the effect of weight sharing hold under strong? No: it changes sign" in flipped
    assert "Does the effect of the auxiliary loss hold under strong? Yes, with the same size" in flipped
    vanished, _ = recipe_answer(before=before, after=retrained(before, gains={"sep": 0.03, "sep_aux": 0.03}))
    assert "Does the effect of weight sharing hold under strong? No: it vanishes (clear under course, not under strong): +" in vanished
    no_sharing = factorial_results(sharing=0.0, aux=0.06)
    neither, _ = recipe_answer(before=no_sharing, after=retrained(no_sharing, gains={}))
    assert "Does the effect of weight sharing hold under strong? Unclear: clear under neither recipe: " in neither
    assert "Does the effect of the auxiliary loss hold under strong? Yes, with the same size" in neither
    # The interaction's reading is asked of the interaction, never after "Do the two effects add up?".
    assert "Does the interaction hold under strong? " in neither
    assert "add up?" not in neither


def test_a_reading_compares_signs_first_and_needs_a_clear_change_to_grow_or_shrink():
    def row(mean: float, low: float, high: float) -> SimpleNamespace:
        return SimpleNamespace(n_pairs=15, mean_diff=mean, ci_low=low, ci_high=high, missing="")

    clear_up, unclear_up = row(0.02, 0.01, 0.03), row(0.002, -0.01, 0.014)
    clear_down, unclear_down = row(-0.03, -0.04, -0.02), row(-0.002, -0.01, 0.006)
    big_change = row(-0.03, -0.04, -0.02)
    assert verdicts.reading(before=clear_up, after=clear_up, change=row(0.0, -0.01, 0.01)) == "holds"
    # The change's 95 % CI decides, the one the change table shows: excluding 0, the effect moved.
    assert verdicts.reading(before=clear_down, after=row(-0.05, -0.06, -0.04),
                            change=row(-0.02, -0.03, -0.01)) == "grows"
    assert verdicts.reading(before=clear_down, after=row(-0.02, -0.03, -0.01),
                            change=row(0.01, 0.002, 0.018)) == "shrinks"
    assert verdicts.reading(before=clear_down, after=row(-0.05, -0.06, -0.04),
                            change=row(-0.02, -0.041, 0.001)) == "holds"
    assert verdicts.reading(before=clear_up, after=clear_down, change=big_change) == "changes sign"
    # Only one side clear: never "changes sign", whatever the signs.
    assert verdicts.reading(before=unclear_up, after=clear_down, change=big_change) == "appears"
    assert verdicts.reading(before=clear_up, after=unclear_down, change=big_change) == "vanishes"
    assert verdicts.reading(before=unclear_up, after=unclear_down, change=big_change) == "unclear under both"
    assert verdicts.reading(before=clear_up, after=clear_up, change=SimpleNamespace(n_pairs=0)) is None


def test_no_reading_contradicts_the_change_interval_it_shows():
    before = factorial_results(sharing=0.03, aux=0.06)
    for gains in ({"base": 0.03}, {"sep": 0.004}, {"sep": 0.008}, {"sep": 0.02, "sep_aux": 0.02}, {}):
        analysis = analyse(results=retrained(before, gains=gains), recipes=recipe_pair(before))
        effects = analysis.by_recipe.effects.set_index(["recipe", "factor", "given"])
        for (factor, given), word in analysis.by_recipe.readings.items():
            change = effects.loc[("change", factor, given)]
            if word == "holds":
                assert change["ci_low"] <= 0 <= change["ci_high"], (gains, factor, given)
            if word in ("grows", "shrinks"):
                assert not change["ci_low"] <= 0 <= change["ci_high"], (gains, factor, given)


def test_summary_markdown_of_a_second_recipe_carries_the_readings_and_the_change_table(tmp_path):
    before = factorial_results(sharing=0.03, aux=0.06)
    pair = recipe_pair(before)
    paths = write_report(out_dir=tmp_path, results=retrained(before, gains={"base": 0.03}),
                         curves=synthetic_curves(), protocol={}, studies={}, recipes=pair,
                         recipe_summary=pair.recipe_summary)
    summary = paths["summary_md"].read_text()
    page_text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", paths["report_html"].read_text())))

    assert "## Under both training recipes: course and strong" in summary
    for question in ("Does the effect of weight sharing hold under strong?",
                     "Does the effect of the auxiliary loss hold under strong?",
                     "Does the interaction hold under strong?"):
        line = next(line for line in summary.splitlines() if question in line)
        sentence = line.partition(question)[2].lstrip(" *")
        assert sentence.startswith(("Yes", "No", "Unclear")), line
        assert sentence in page_text  # the same sentence as the page's
    assert "| Effect (contrast) | course (points, 95 % CI) | strong (points, 95 % CI) | Change (points, 95 % CI) |" in summary
    assert "| Arch | course mean (%) | strong mean (%) | Change (points, 95 % CI) | Searches × seeds |" in summary
    assert "| joint | " in summary
    # The recipes come before the per-arch table, which stays last.
    assert summary.index("Under both training recipes") < summary.index("Test accuracy (%) after the last epoch")


def test_the_report_under_a_second_recipe_writes_both_and_names_its_recipe(tmp_path):
    before = factorial_results(sharing=0.03, aux=0.06)
    pair = recipe_pair(before)
    paths = write_report(out_dir=tmp_path, results=retrained(before, gains={"base": 0.03}),
                                curves=synthetic_curves(), protocol={"data source": "mnist5k"}, studies={},
                                recipes=pair, recipe_summary=pair.recipe_summary)

    by_recipe = pd.read_csv(paths["effects_by_recipe_csv"])
    # 7 effects per recipe and their change: each factor given the other's two levels and on average, and the interaction
    assert by_recipe.groupby("recipe").size().to_dict() == {"change": 7, "course": 7, "strong": 7}
    assert list(by_recipe.columns) == recipe_stats.BY_RECIPE_COLUMNS
    # effects.csv names the recipe of its results, as effects_by_recipe.csv does.
    assert set(pd.read_csv(paths["effects_csv"])["recipe"]) == {"strong"}
    course = by_recipe[by_recipe.recipe == "course"].reset_index(drop=True)
    np.testing.assert_allclose(course["mean_diff"], stats.factorial_effects(results=before)["mean_diff"])
    assert "Training recipe: strong (25 epochs, training images shifted by up to 1 px)." in (
        paths["summary_md"].read_text())
    page = paths["report_html"].read_text()
    assert "Under both training recipes: course and strong" in page
    assert 'data-key="recipes/arch/joint"' in page

    # The plain report written into the same folder afterwards keeps nothing of this one.
    plain = write_report(out_dir=tmp_path, results=before, curves=synthetic_curves(),
                                protocol={"data source": "mnist5k"}, studies={})
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in plain.values())


def test_every_question_is_answered_yes_no_or_unclear():
    full = [factorial_results(sharing=sharing, aux=aux) for sharing, aux in ((0.03, 0.06), (-0.03, 0.0), (0.0, 0.0))]
    part = factorial_results(sharing=0.03, aux=0.02)
    for results in [*full, part[~part["arch"].isin(["sep", "sep_aux"])]]:
        text, _ = answer_of(results)
        for question in ("Does weight sharing help?", "Does the auxiliary loss help?",
                         "Do the two effects add up?", "Does another arch beat the best of the four?"):
            answered = text.partition(question)[2].lstrip()
            assert answered.startswith(("Yes", "No", "Unclear")), (question, answered[:40])


def test_the_report_names_its_recipe_in_title_heading_answer_and_tuning_comparison(tmp_path):
    results = synthetic_results().assign(recipe="strong")
    paths = write_report(out_dir=tmp_path, results=results, curves=synthetic_curves(),
                         protocol={"data source": "mnist5k"},
                         studies=read_studies(studies={"base": label_tuned(
                             quadratic_study(name="base", n_trials=8), arch="base", spec=BASE_SPEC)}),
                         recipe_summary="strong (3 epochs, training images shifted by up to 1 px)")
    page = paths["report_html"].read_text()
    assert "<title>pairsearch final report — strong recipe</title>" in page
    assert "<h1>pairsearch final report — strong recipe</h1>" in page
    assert "<h2>The answer — strong recipe</h2>" in page
    assert "Training recipe: strong (3 epochs, training images shifted" in page
    assert "strong recipe: strong" not in page
    assert paths["summary_md"].read_text().startswith("## The answer — strong recipe\n")
    # Final test (strong, the curves' epochs) against best validation (the study's recipe and epochs).
    epochs = int(synthetic_curves()["epoch"].max())
    assert f'<span class="ps-detail">recipe strong, {epochs} epochs</span>' in page
    assert '<span class="ps-detail">recipe course, 3 epochs</span>' in page  # BASE_SPEC's
    assert '<span class="ps-detail">different training</span>' in page


def test_a_second_recipe_without_default_results_says_how_to_get_them(tmp_path):
    results = factorial_results(sharing=0.03, aux=0.06)
    empty = results.iloc[0:0]
    text, analysis = recipe_answer(before=empty, after=results)

    assert analysis.by_recipe is None
    assert "No finished jobs under the course recipe for these studies yet" in text
    paths = write_report(out_dir=tmp_path, results=results, curves=synthetic_curves(),
                                protocol={}, studies={}, recipes=recipe_pair(empty))
    assert "effects_by_recipe_csv" not in paths


def test_both_recipes_with_part_of_the_design_compare_what_they_can():
    before = factorial_results(sharing=0.03, aux=0.06)
    before = before[before["arch"].isin(["base", "joint"])]
    after = retrained(before, gains={"base": 0.03})

    text, analysis = recipe_answer(before=before, after=after)

    assert ("Does the effect of weight sharing hold under strong? Unclear, it cannot be compared (no results for base_aux, sep, sep_aux under "
            "course or strong).") in text
    assert "Does the interaction hold under strong? Unclear, it cannot be compared (no results for base_aux, sep, sep_aux" in text
    archs = analysis.by_recipe.archs.set_index("arch")
    assert list(archs.index) == ["base", "joint"] and 0.02 < archs.loc["base", "mean_diff"] < 0.04
