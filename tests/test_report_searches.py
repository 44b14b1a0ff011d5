"""A report of several independent searches per arch: each search's own numbers and configuration."""

import json
import re

import pandas as pd
import pytest

from pairsearch.report.facts import TuningFacts
from pairsearch.report.writer import write_report

# label → search → (its configuration, parameter count, seconds per run, accuracy of seed 0)
SEARCHES = {
    "base": {0: ({"channels": 29, "lr": 0.002}, 11_000, 3.0, 0.80),
             1: ({"channels": 255, "lr": 0.0007}, 777_000, 9.0, 0.90)},
    "sep": {0: ({"channels": 64, "lr": 0.01}, 42_000, 5.0, 0.70),
            1: ({"channels": 128, "lr": 0.03}, 99_000, 7.0, 0.60)},
}
SEEDS = [1000, 1001, 1002]
BEST_VALIDATION = {("base", 0): 0.79, ("base", 1): 0.91, ("sep", 0): 0.72, ("sep", 1): 0.55}


def searched_results() -> pd.DataFrame:
    rows = [{"arch": label, "search": search, "seed": seed, "test_accuracy": accuracy + 0.01 * index,
             "status": "completed", "seconds": seconds, "n_parameters": parameters, "params": json.dumps(params)}
            for label, searches in SEARCHES.items()
            for search, (params, parameters, seconds, accuracy) in searches.items()
            for index, seed in enumerate(SEEDS)]
    return pd.DataFrame(rows)


def study_facts(*, label: str, search: int) -> TuningFacts:
    name = label if search == 0 else f"{label}.search{search}"
    complete = pd.DataFrame({"number": [0, 1], "n_parameters": [1000, 2000],
                             "value": [BEST_VALIDATION[label, search] - 0.1, BEST_VALIDATION[label, search]]})
    return TuningFacts(study_name=name, arch=label, states={"complete": 2, "pruned": 0, "fail": 0, "running": 0,
                                                             "waiting": 0},
                       epochs=None, training_seconds=None, wall_seconds=None, best_number=1,
                       best_value=BEST_VALIDATION[label, search], spec={"epochs": 3}, versions=None,
                       recipe_name="course", recipe_augmentation="no augmentation", complete=complete,
                       group=label, search=search)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    studies = {study.study_name: study for label, searches in SEARCHES.items() for search in searches
               for study in [study_facts(label=label, search=search)]}
    curves = pd.DataFrame([{"arch": label, "search": search, "seed": seed, "epoch": epoch, "train_loss": 1 / epoch,
                            "train_accuracy": 0.7, "test_accuracy": 0.7, "digit_accuracy": float("nan")}
                           for label, searches in SEARCHES.items() for search in searches
                           for seed in SEEDS for epoch in (1, 2, 3)])
    paths = write_report(out_dir=tmp_path_factory.mktemp("searches"), results=searched_results(), curves=curves,
                         protocol={}, studies=studies)
    return paths["report_html"].read_text(encoding="utf-8")


def section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start:page.index("</section>", start)]


def table_row(html: str, name: str) -> list[str]:
    """The cells after the row's name, as text without tags."""
    row = re.search(rf"<tr><td>{re.escape(name)}</td>(.*?)</tr>", html, re.DOTALL)
    assert row, name
    return [re.sub(r"<[^>]+>", " ", cell).split() and " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)]


def header(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", html.split("</tr>")[0])]


def test_each_study_column_of_the_tuning_table_shows_its_own_searchs_final_results(page):
    tuning = section(page, "tuning")
    columns = header(tuning[tuning.index("<table"):])[1:]
    studies = {"base": ("base", 0), "base.search1": ("base", 1), "sep": ("sep", 0), "sep.search1": ("sep", 1)}
    means = {name: SEARCHES[label][search][3] + 0.01 for name, (label, search) in studies.items()}  # +0, +1, +2

    def cells(row: str) -> dict[str, str]:
        return dict(zip(columns, table_row(tuning, row), strict=True))

    assert {name: cell.split()[0] for name, cell in cells("Final test accuracy, mean (%)").items()} == {
        name: f"{100 * mean:.2f}" for name, mean in means.items()}
    gaps = {name: float(cell.split()[0].replace("−", "-").replace("+", ""))
            for name, cell in cells("Final test − best validation (points)").items()}
    assert gaps == pytest.approx({name: 100 * (means[name] - BEST_VALIDATION[at]) for name, at in studies.items()},
                                 abs=0.01)
    assert cells("Parameters (final configuration)") == {"base": "11 k", "base.search1": "777 k", "sep": "42 k",
                                                         "sep.search1": "99 k"}
    assert cells("Final run time (mean)") == {"base": "3.0 s", "base.search1": "9.0 s", "sep": "5.0 s",
                                              "sep.search1": "7.0 s"}
    assert columns == list(studies)  # each arch's searches side by side
    trained = {name: cell.split(" ", 1)[1] for name, cell in cells("Final test accuracy, mean (%)").items()}
    assert len(set(trained.values())) == 1 and "epochs" in trained["base.search1"]  # every search says its epochs


def test_the_best_parameters_show_each_searchs_chosen_configuration(page):
    params = section(page, "params")
    assert header(params[params.index("<table"):]) == ["Hyperparameter", "base", "base.search1", "sep",
                                                       "sep.search1"]
    assert table_row(params, "channels") == ["29", "255", "64", "128"]
    assert "One column per search" in params


def test_every_searchs_trials_and_final_configuration_are_drawn_under_its_arch():
    from pairsearch.report import formatting, plots
    from pairsearch.report.analysis import analyse

    studies = {study.study_name: study for label, searches in SEARCHES.items() for search in searches
               for study in [study_facts(label=label, search=search)]}
    analysis = analyse(results=searched_results(), studies=studies)
    assert sorted(set(analysis.complete_trials["arch"])) == ["base", "sep"]
    assert len(analysis.complete_trials) == 8
    # Accuracy against parameters: one diamond per search, at its own configuration's size.
    figure = plots.size_figure(summary=analysis.summary, finals=analysis.tuning, trials=analysis.complete_trials,
                               archs=analysis.archs, colours=formatting.arch_colours(archs=analysis.archs))
    finals = {trace.name: list(trace.x) for trace in figure.data if not trace.name.endswith("tuning trials")}
    assert finals == {"base": [11_000, 777_000], "sep": [42_000, 99_000]}
