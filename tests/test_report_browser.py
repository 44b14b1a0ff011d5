"""Open the report in Debian's real headless Chromium: every plot renders, the console is clean."""

import base64
import json
import os
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import plotly.offline
import pytest
from conftest import label_tuned, learning_curves, quadratic_study

from pairsearch.report import formatting, stats, writer
from pairsearch.report.studies import read_studies

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "html.png"
PHONE_SCREENSHOT = SCREENSHOT.with_name("html-390px.png")
RENDER_TIMEOUT_S = 60
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=900,1000",  # the narrowest width the page must fit without sideways scroll
]
ALL_PLOTS_RENDERED_JS = """
const plots = Array.from(document.querySelectorAll('.ps-plot'));
return plots.length > 0 && plots.every(plot => plot.querySelector('.main-svg') !== null);
"""
ROW_CELLS_JS = """
return Array.from(document.querySelectorAll(arguments[0])).map(row => [
    row.dataset.key, Array.from(row.querySelectorAll('td')).map(cell => cell.innerText.trim())
]);
"""


def _require_browser() -> None:
    """Skip where Chromium is missing, but fail under CI, which installs it."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _results_and_curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every registered arch over six seeds, with per-job provenance (two devices)."""
    rng = np.random.default_rng(0)
    means = {"base": 0.87, "base_aux": 0.93, "sep": 0.85, "sep_aux": 0.91, "joint": 0.83,
             "split": 0.97, "digits": 0.975}
    archs = list(means)
    results = pd.DataFrame(
        {
            "arch": arch,
            "seed": seed,
            "test_accuracy": means[arch] + 0.01 * rng.standard_normal(),
            "status": "completed",
            "seconds": 4.0,
            "n_parameters": 20_000 * (index + 1),
            "params": json.dumps({"lr": 0.001, "channels": 32, "hidden": 128}),
            "device": "cuda" if arch != "joint" else "cpu",
            "host": "node-1",
            "torch": "2.11.0",
            "optuna": "5.0.0",
            "pairsearch": "0.1.0",
            "python": "3.11.7",
        }
        for index, arch in enumerate(archs)
        for seed in range(6)
    )
    return results, learning_curves(archs=archs, seeds=range(6), epochs=range(1, 4), rng=rng)


def _tuning_trials() -> pd.DataFrame:
    """Thirty finished trials of two searches for each of two archs, for the budget curves."""
    rng = np.random.default_rng(1)
    return pd.DataFrame([
        {"arch": arch, "search": search, "number": number, "state": "complete",
         "value": 0.8 + 0.1 * rng.random()}
        for arch in ("base", "base_aux") for search in (0, 1) for number in range(30)])


def _tuning_study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return label_tuned(quadratic_study(n_trials=8), arch="base")


@pytest.fixture
def driver(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


def _save_full_page_screenshot(*, browser, path: Path) -> None:
    """Chrome's WebDriver screenshots only the viewport; the DevTools protocol gets the page."""
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


PHONE_WIDTH_PX = 390
# Each plot's titles and labels lie inside the plot, and each table box inside the viewport.
CLIPPED_JS = """
const clipped = [];
document.querySelectorAll('.ps-plot .js-plotly-plot').forEach(plot => {
  const box = plot.getBoundingClientRect();
  // The plot's drawing fits in the box the page gives it (or the next element covers it).
  const svg = plot.querySelector('.main-svg').getBoundingClientRect();
  if (svg.height > plot.parentElement.getBoundingClientRect().height + 1) clipped.push(plot.id + ' taller than its box');
  // Titles, axis titles, panel titles and the row labels drawn inside forest plots.
  plot.querySelectorAll('.g-gtitle text, .g-xtitle text, .g-ytitle text, .annotation text, .ytick text').forEach(text => {
    const r = text.getBoundingClientRect();
    const outside = r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
    if (r.width > 0 && outside) clipped.push(plot.id + ': ' + text.textContent);
  });
});
document.querySelectorAll('.ps-table-box').forEach(table => {
  if (table.getBoundingClientRect().right > window.innerWidth + 1) clipped.push('a table box');
});
return clipped;
"""


FOREST_PLOTS = ["answer-forest", "versus-forest", "pairwise-forest", "effects-by-run"]
MIN_DATA_AREA_PX = 200
# Per forest plot, the width of each panel's data area (plotly's drag rectangle over it).
DATA_AREAS_JS = """
return Object.fromEntries(arguments[0].map(id => [id,
  [...document.querySelectorAll('#ps-plot-' + id + ' .nsewdrag')].map(area => area.getBoundingClientRect().width)]));
"""


@pytest.fixture
def report_page(driver, tmp_path) -> tuple[object, pd.DataFrame]:
    return _open_report(driver=driver, tmp_path=tmp_path)


@pytest.fixture
def phone_page(driver, tmp_path) -> object:
    """The same report in a viewport as wide as a phone's."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE_WIDTH_PX, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    browser, _ = _open_report(driver=driver, tmp_path=tmp_path)
    return browser


def _open_report(*, driver, tmp_path) -> tuple[object, pd.DataFrame]:
    from selenium.webdriver.support.ui import WebDriverWait

    results, curves = _results_and_curves()
    paths = writer.write_report(
        out_dir=tmp_path / "report",
        results=results,
        curves=curves,
        protocol={"data source": "mnist5k", "epochs": 3, "seeds": "0–5"},
        studies=read_studies(studies={"base": _tuning_study()}),
        trials=_tuning_trials(),
    )
    driver.get(paths["report_html"].as_uri())
    WebDriverWait(driver, RENDER_TIMEOUT_S).until(
        lambda browser: browser.execute_script(ALL_PLOTS_RENDERED_JS)
    )
    return driver, results


def test_report_renders_every_plot_without_console_errors_or_sideways_scroll(report_page):
    driver, _ = report_page
    _save_full_page_screenshot(browser=driver, path=SCREENSHOT)

    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    plots = driver.find_elements("css selector", ".ps-plot")
    # Two forests of the answer (effects; other archs), the interaction plot, the effects run by
    # run, per-seed, the pairwise forest, four curves, accuracy vs parameters, one study's two
    # plots, the budget curves.
    assert len(plots) == 14
    assert len(driver.find_elements("css selector", ".ps-plot .main-svg")) >= len(plots)
    assert driver.execute_script("return window.innerWidth") == 900
    scroll_width, client_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll_width <= client_width
    assert SCREENSHOT.stat().st_size > 0


def test_the_report_reads_at_a_phones_width(phone_page):
    """390 px: no sideways scroll of the page (tables scroll in their own box), plots as wide as
    the screen allows, no title or row label clipped, every forest plot's data area at least
    200 px wide, and nothing requested from outside the file."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = phone_page
    assert driver.execute_script("return window.innerWidth") == PHONE_WIDTH_PX
    # Titles are wrapped after the load event; wait until every plot is laid out again.
    WebDriverWait(driver, RENDER_TIMEOUT_S).until(lambda browser: browser.execute_script(
        "return document.documentElement.dataset.psTitlesFitted === 'yes'"))
    scroll_width, inner_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    _save_full_page_screenshot(browser=driver, path=PHONE_SCREENSHOT)
    assert scroll_width <= inner_width
    assert driver.execute_script(CLIPPED_JS) == []
    widths = driver.execute_script(
        "return [...document.querySelectorAll('.ps-plot .js-plotly-plot')].map(p => p.getBoundingClientRect().width)")
    assert widths and max(widths) <= PHONE_WIDTH_PX
    assert driver.execute_script("return document.querySelectorAll('.ps-table-box table').length") >= 5
    # Each forest plot's data take the width: its row labels sit above the marks, not beside them.
    areas = driver.execute_script(DATA_AREAS_JS, FOREST_PLOTS)
    assert all(areas[plot] for plot in FOREST_PLOTS), areas
    assert min(width for widths in areas.values() for width in widths) >= MIN_DATA_AREA_PX, areas
    # Differences of 0.5 to 14 points: the pairwise forest is in panels, each with its own range.
    assert len(areas["pairwise-forest"]) >= 2, areas
    requests = driver.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")
    assert [name for name in requests if not name.startswith(("file:", "data:", "blob:"))] == []
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


MIN_FONT_PX = 13
# Every text drawn in a plot (ticks, titles, legends, labels) with its font size in pixels.
PLOT_FONTS_JS = """
return [...document.querySelectorAll('.ps-plot .main-svg text, .ps-plot .infolayer text')]
  .filter(text => text.textContent.trim() && text.getBoundingClientRect().width > 0)
  .map(text => [text.closest('.ps-plot').id, text.textContent.slice(0, 40), parseFloat(getComputedStyle(text).fontSize)]);
"""
# Per plot, each y axis title whose box meets the box of the title or the subtitle.
TITLE_OVERLAPS_JS = """
const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const found = [];
document.querySelectorAll('.ps-plot').forEach(plot => {
  const titles = [...plot.querySelectorAll('.g-gtitle text, .g-gtitle-subtitle text')].map(t => t.getBoundingClientRect());
  plot.querySelectorAll('[class^="g-y"][class$="title"] text').forEach(axis => {
    const box = axis.getBoundingClientRect();
    if (box.width > 0 && titles.some(title => meets(box, title))) found.push(plot.id + ': ' + axis.textContent);
  });
});
return found;
"""


@pytest.mark.parametrize("width", [1400, 900, PHONE_WIDTH_PX])
def test_every_plot_text_is_legible_and_no_axis_title_runs_into_the_titles(driver, tmp_path, width):
    """At a wide screen, the narrowest the page fits and a phone: no text in any plot under
    13 px (plotly draws a log axis's labels between decades smaller, unless told its ticks), and
    no y axis title taller than its plot, running up into the title or subtitle."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": width < 600})
    _open_report(driver=driver, tmp_path=tmp_path)
    WebDriverWait(driver, RENDER_TIMEOUT_S).until(lambda browser: browser.execute_script(
        "return document.documentElement.dataset.psTitlesFitted === 'yes'"))
    fonts = driver.execute_script(PLOT_FONTS_JS)
    assert {plot for plot, _, _ in fonts} >= {"ps-plot-accuracy-vs-parameters", "ps-plot-budget-curves"}
    assert [font for font in fonts if font[2] < MIN_FONT_PX] == []
    assert driver.execute_script(TITLE_OVERLAPS_JS) == []


def test_the_report_offers_no_way_to_send_a_chart_anywhere_and_requests_nothing(report_page):
    """Privacy: no cloud/share/edit control on any plot, no plotly server URL, no request that
    leaves the file; the camera button saves SVG, drawn in the page."""
    driver, _ = report_page
    titles = driver.execute_script(
        "return [...document.querySelectorAll('.modebar-btn')].map(b => b.getAttribute('data-title') || '')")
    assert titles, "no plot toolbar was drawn"
    assert not [t for t in titles if any(word in t.lower() for word in ("cloud", "share", "edit", "chart studio"))]
    # plotly.js's own code holds its defaults (a cloud URL, a map server's) that the config
    # overrides or these plots never use, so look at the page around it (the drawn SVGs' xmlns
    # are http URLs: test_report checks the written file for links).
    page_source = driver.page_source
    around_plotly_js = page_source.replace(plotly.offline.get_plotlyjs(), "")
    assert len(around_plotly_js) < len(page_source)
    assert not [word for word in ("plot.ly", "plotly.com", "chart-studio") if word in around_plotly_js]
    # Each plot's effective config: no send-to-cloud button (plotly.js v4 shows one by default),
    # no logo linking out.
    contexts = driver.execute_script(
        "return [...document.querySelectorAll('.ps-plot .js-plotly-plot')].map(plot => ["
        "plot._context.showSendToCloud, plot._context.displaylogo])")
    assert len(contexts) == len(driver.find_elements("css selector", ".ps-plot"))
    assert all(context == [False, False] for context in contexts), contexts
    requests = driver.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")
    assert [name for name in requests if not name.startswith(("file:", "data:", "blob:"))] == []
    formats = driver.execute_script(
        "return [...document.querySelectorAll('.ps-plot .js-plotly-plot')]"
        ".map(plot => plot._context.toImageButtonOptions.format)")
    assert formats and set(formats) == {"svg"}


def test_answer_section_shows_the_numbers_of_the_stats_module(report_page):
    driver, results = report_page
    effects = stats.factorial_effects(results=results)
    versus = stats.versus_best(results=results)

    shown = dict(driver.execute_script(ROW_CELLS_JS, "#answer tr[data-key]"))
    for row in effects.itertuples(index=False):
        key = f"{row.factor}/{row.given}" if row.given else row.factor
        assert shown[key][1:] == _expected_cells(row), key
    for row in versus.itertuples(index=False):
        assert shown[f"versus/{row.arch}"][1:] == _expected_cells(row), row.arch
    sentences = driver.find_element("css selector", "#answer").text
    average = effects.set_index(["factor", "given"]).loc[("shared_weights", "average")]
    assert (
        f"{100 * average['mean_diff']:.2f} points on average (95 % CI "
        f"{formatting.points(average['ci_low'])} to {formatting.points(average['ci_high'])}"
        in sentences
    )


def _expected_cells(row) -> list[str]:
    """The cells of one paired comparison, built here from the stats row (not by the report's code)."""
    interaction = getattr(row, "factor", None) == "interaction"  # a difference of differences: no arch wins
    better = formatting.DASH if row.level != "searches" or interaction else (
        f"{row.p_better:.2f} [{row.p_better_low:.2f}, {row.p_better_high:.2f}]")
    runs = f"{row.n_searches} × {row.n_pairs // row.n_searches}"
    return [
        runs,
        formatting.points(row.mean_diff),
        formatting.interval(row.ci_low, row.ci_high, signed=True),
        better,
        formatting.DASH if interaction else formatting.share(row.share_won),
        formatting.share(row.tuning_share),
        formatting.effect_size(row.effect_size),
    ]
