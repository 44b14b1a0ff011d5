import json
import re
import warnings

import numpy as np
import optuna
import pandas as pd
import plotly.offline
import pytest

from pairsearch import report, stats

ARCHS = ["base", "sep_aux", "digits"]
SEEDS = [0, 1, 2, 3]
EPOCHS = [1, 2, 3]
SECTION_HEADINGS = [
    "Protocol",
    "Summary",
    "Pairwise comparisons",
    "Per-seed test accuracy",
    "Learning curves",
    "Tuning studies",
    "Best parameters",
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
    rng = np.random.default_rng(1)
    rows = [
        {
            "arch": arch,
            "seed": seed,
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "train_accuracy": 0.7 + 0.08 * epoch,
            "test_accuracy": 0.6 + 0.08 * epoch + 0.03 * index + 0.01 * rng.standard_normal(),
            "digit_accuracy": np.nan if arch == "base" else 0.9,
        }
        for index, arch in enumerate(ARCHS)
        for seed in SEEDS
        for epoch in EPOCHS
    ]
    return pd.DataFrame(rows)


def quadratic_study(*, name: str, n_trials: int) -> optuna.Study:
    study = optuna.create_study(
        study_name=name,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["validation accuracy"])
    study.optimize(
        lambda trial: (
            0.9
            - (trial.suggest_float("lr", 1e-4, 1e-1, log=True) - 0.01) ** 2
            - 0.01 * (trial.suggest_int("channels", 8, 64) / 64 - 0.5) ** 2
        ),
        n_trials=n_trials,
    )
    return study


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
    studies = {
        "base": quadratic_study(name="base-tune", n_trials=8),
        "sep_aux": quadratic_study(name="sep_aux-tune", n_trials=1),
        "digits": flat_study(name="digits-tune", n_trials=3),
    }
    out_dir = tmp_path_factory.mktemp("report") / "nested"
    return report.write_report(
        out_dir=out_dir,
        results=synthetic_results(),
        curves=synthetic_curves(),
        protocol=PROTOCOL,
        studies=studies,
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
        "report_html",
    }
    assert all(path.is_file() for path in written.values())


def test_csv_files_hold_the_data(written):
    results = pd.read_csv(written["results_csv"])
    curves = pd.read_csv(written["curves_csv"])
    pairwise = pd.read_csv(written["pairwise_csv"])

    assert len(results) == len(ARCHS) * len(SEEDS)
    assert list(results.columns) == list(synthetic_results().columns)
    assert len(curves) == len(ARCHS) * len(SEEDS) * len(EPOCHS)
    assert len(pairwise) == 3
    assert list(pairwise.columns) == stats.PAIRWISE_COLUMNS


def test_summary_markdown_has_one_row_per_arch(written):
    lines = written["summary_md"].read_text(encoding="utf-8").splitlines()
    arch_rows = [line for line in lines[2:] if line.startswith("|")]

    assert lines[0].startswith("| Rank | Arch |")
    assert sorted(row.split("|")[2].strip() for row in arch_rows) == sorted(ARCHS)
    # The best arch (highest synthetic accuracy) is ranked first.
    assert arch_rows[0].split("|")[2].strip() == "digits"


def test_summary_markdown_formats_percentages():
    summary = pd.DataFrame(
        [
            {
                "arch": "base",
                "n": 15,
                "mean": 0.8871,
                "std": 0.0048,
                "median": 0.888,
                "iqm": 0.8875,
                "ci_low": 0.885,
                "ci_high": 0.8895,
                "rank": 1,
            }
        ]
    )

    text = report.summary_markdown(summary=summary)

    assert (
        text.splitlines()[2] == "| 1 | base | 88.71 ± 0.48 | 88.80 | 88.75 | [88.50, 88.95] | 15 |"
    )


def test_html_loads_nothing_from_the_network(page):
    # plotly.js's own code holds URL strings (logo link, map attributions) that it never
    # fetches for these plots, so look at the page around it.
    page_without_plotly_js = page.replace(plotly.offline.get_plotlyjs(), "")

    assert len(page_without_plotly_js) < len(page)
    assert (
        re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page_without_plotly_js, re.IGNORECASE) is None
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

    # Box plot + learning curves + history and importances of the 8-trial study
    # + history of the 1-trial and flat studies.
    assert len(ids) == 6
    assert len(set(ids)) == len(ids)
    assert "ps-plot-accuracy-by-arch" in ids
    assert "ps-plot-learning-curves" in ids


def test_html_notes_a_study_with_too_few_trials_for_importances(page):
    assert "Parameter importances need at least 2 completed trials; this study has 1." in page


def test_html_notes_importances_that_would_all_be_equal(page):
    # The evaluator cannot tell parameters apart when every trial scores the same.
    assert "Parameter importances unavailable:" in page
    assert "ps-plot-importance-digits" not in page


def test_html_escapes_text_from_the_data(page):
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_html_tables_show_summary_and_best_params(page):
    assert "Mean ± std (%)" in page
    assert "Holm p" in page
    assert "30,000" in page  # n_parameters of the third arch
    assert "<th>lr</th>" in page


def test_report_without_studies_says_so(tmp_path):
    paths = report.write_report(
        out_dir=tmp_path,
        results=synthetic_results(),
        curves=synthetic_curves(),
        protocol={"data source": "mnist5k"},
        studies={},
    )

    assert "No tuning studies were given." in paths["report_html"].read_text(encoding="utf-8")
