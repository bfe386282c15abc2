"""End-to-end tests of the Reward page in a real Chromium, driven by Playwright.

The app runs as a subprocess with fresh cache and presets folders. Each test
opens its own browser context, so the weights kept in session storage start
from the defaults. Expected values come from the engine, on the component
table that the app stored in its cache folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.formatting import format_value
from engine.agreement import agreement_by_size
from engine.components import ComponentCache, ComponentTable
from dashboard.reward_logic import format_weight
from engine.defaults import DEFAULT_DATASET
from engine.fitting import fit_with_split
from engine.reward import DEFAULT_WEIGHTS, SURROGATE_COMPONENT, RewardWeights
from tests.browser_support import chromium, fresh_page, running_app, skip_without_chromium
from tests.engine_fixtures import TFRECORD_PATH, require_file

pytestmark = pytest.mark.browser

#: Top-k the page starts with.
DEFAULT_TOP_K = 10
#: Milliseconds to wait for the first table, which the app computes in a background process.
FIRST_TABLE_TIMEOUT_MS = 90_000
# Two water dimers without energies (empty comment lines).
DIMERS_WITHOUT_ENERGY = b"""6

O 0.0 0.0 0.0
H 0.9572 0.0 0.0
H -0.2396 0.9267 0.0
O 2.91 0.0 0.0
H 3.496 0.0 0.757
H 3.496 0.0 -0.757
6

O 0.0 0.0 0.0
H 0.9572 0.0 0.0
H -0.2396 0.9267 0.0
O 3.50 0.0 0.0
H 4.086 0.0 0.757
H 4.086 0.0 -0.757
"""
#: Milliseconds to wait for the HydroNet table of 23,520 clusters, which took 10 to 20 s on 2 shared cores.
LARGE_TABLE_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def server(tmp_path_factory, runs_dir):
    """Start ``app.py``, yield ``(url, cache_dir)`` and stop it afterwards."""
    skip_without_chromium()
    cache_dir = tmp_path_factory.mktemp("cache")
    presets_dir = tmp_path_factory.mktemp("presets")
    log_path = tmp_path_factory.mktemp("log") / "app.log"
    environment = {"DESIGN_CACHE_DIR": str(cache_dir), "DESIGN_PRESETS_DIR": str(presets_dir), "DESIGN_RUNS_DIR": str(runs_dir)}
    with running_app(log_path, environment) as (url, _):
        yield url, cache_dir


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    """Yield a page in a fresh browser context and the list of errors it collects."""
    with fresh_page(browser) as opened:
        yield opened


def open_reward_page(page, url: str) -> None:
    """Open the Reward page and wait until the agreement table of the default dataset is shown."""
    from playwright.sync_api import expect

    page.goto(url + "reward")
    expect(page.locator("#reward-agreement-grid")).to_be_visible(timeout=FIRST_TABLE_TIMEOUT_MS)


def served_table(cache_dir: Path) -> ComponentTable:
    """Read the default dataset's component table from the app's cache folder."""
    cache = ComponentCache(cache_dir / "components")
    try:
        table = cache.table_for_file(DEFAULT_DATASET)
    finally:
        cache.close()
    assert cache.hits == 1, "the app should have cached the table before the page showed it"
    return table


def spearman_texts(table: ComponentTable, weights: RewardWeights) -> dict[int, str]:
    """Return the shown text of every size's Spearman rho under ``weights``, computed by the engine."""
    agreement = agreement_by_size(table.rewards(weights), table.energies, table.n_waters, DEFAULT_TOP_K)
    return {entry.n_waters: format_value(entry.spearman) for entry in agreement}


def test_spearman_follows_typed_weight(server, page):
    from playwright.sync_api import expect

    url, cache_dir = server
    page, errors = page
    open_reward_page(page, url)
    table = served_table(cache_dir)
    changed = RewardWeights({**DEFAULT_WEIGHTS.weights, "rings_4": 2.0}, DEFAULT_WEIGHTS.degree_target)
    before = spearman_texts(table, DEFAULT_WEIGHTS)
    after = spearman_texts(table, changed)
    size = next(size for size in before if before[size] != after[size])
    cell = page.locator(f"#reward-spearman-{size}")
    expect(cell).to_have_text(before[size])
    assert cell.get_attribute("data-size") == str(size)

    page.fill("#reward-input-rings_4", "2")
    page.press("#reward-input-rings_4", "Enter")

    expect(cell).to_have_text(after[size])
    for other, text in after.items():
        expect(page.locator(f"#reward-spearman-{other}")).to_have_text(text)
    expect(page.locator("#reward-weights-error")).to_be_hidden()
    assert errors == []


def test_weights_kept_when_returning_to_page(server, page):
    from playwright.sync_api import expect

    url, cache_dir = server
    page, errors = page
    open_reward_page(page, url)
    table = served_table(cache_dir)
    changed = RewardWeights({**DEFAULT_WEIGHTS.weights, "rings_4": 2.0}, DEFAULT_WEIGHTS.degree_target)
    page.fill("#reward-input-rings_4", "2")
    page.press("#reward-input-rings_4", "Enter")
    expected = spearman_texts(table, changed)
    size = next(iter(expected))
    expect(page.locator(f"#reward-spearman-{size}")).to_have_text(expected[size])

    page.click("#nav-pathways")
    page.click("#nav-reward")

    expect(page.locator("#reward-input-rings_4")).to_have_value("2")
    expect(page.locator("#reward-input-degree")).to_have_value("1")
    # An edit after returning starts from the kept weights, not from the layout's defaults.
    page.fill("#reward-input-rings_5", "1")
    page.press("#reward-input-rings_5", "Enter")
    both = RewardWeights({**changed.weights, "rings_5": 1.0}, DEFAULT_WEIGHTS.degree_target)
    for other, text in spearman_texts(table, both).items():
        expect(page.locator(f"#reward-spearman-{other}")).to_have_text(text)
    expect(page.locator("#reward-input-rings_4")).to_have_value("2")
    assert errors == []


def test_unusable_surrogate_model_shows_message(server, runs_dir, page):
    from playwright.sync_api import expect

    url, _ = server
    page, errors = page
    # A model folder written by another format version of the program.
    model = runs_dir / "20261204-000000-train-surrogate-0a0b0c" / "artifacts" / "model"
    model.mkdir(parents=True)
    (model / "model.json").write_text(json.dumps({"format_version": 999}))
    (model / "model.pt").write_bytes(b"weights of another version")
    open_reward_page(page, url)
    before = page.locator("#reward-agreement-table").inner_text()

    weights = {**DEFAULT_WEIGHTS.to_dict(), "surrogate": {"model": str(model), "weight": -1.0}}
    page.evaluate("weights => sessionStorage.setItem('reward-weights', JSON.stringify(weights))", weights)
    page.reload()

    expect(page.locator("#reward-surrogate-model")).to_contain_text("Model of job 20261204-000000-train-surrogate-0a0b0c")
    expect(page.locator(f"#reward-input-{SURROGATE_COMPONENT}")).to_have_value("-1")
    expect(page.locator("#reward-job-message")).to_contain_text(
        "Could not predict the energies with the surrogate", timeout=FIRST_TABLE_TIMEOUT_MS
    )
    message = page.locator("#reward-agreement-message")
    expect(message).to_contain_text("The charts leave out the surrogate's component: the surrogate's energies are missing")
    # Without the surrogate's component the weights are the defaults, so the table is the one shown before.
    assert page.locator("#reward-agreement-table").inner_text() == before
    page.fill(f"#reward-input-{SURROGATE_COMPONENT}", "0")
    page.press(f"#reward-input-{SURROGATE_COMPONENT}", "Enter")
    expect(page.locator("#reward-agreement-message")).to_be_hidden()
    assert errors == []


def test_slider_keyboard_step_sets_box_and_table(server, page):
    from playwright.sync_api import expect

    url, cache_dir = server
    page, errors = page
    open_reward_page(page, url)
    table = served_table(cache_dir)
    changed = RewardWeights({**DEFAULT_WEIGHTS.weights, "degree": 1.01}, DEFAULT_WEIGHTS.degree_target)
    expected = spearman_texts(table, changed)

    page.locator("#reward-slider-degree [role=slider]").press("ArrowRight")

    expect(page.locator("#reward-input-degree")).to_have_value("1.01")
    for size, text in expected.items():
        expect(page.locator(f"#reward-spearman-{size}")).to_have_text(text)
    assert errors == []


@pytest.mark.parametrize("text, problem", [("1e999", "must be a finite number"), ("nan", "must be a finite number"),
                                           ("abc", "'abc' is not a number")])
def test_bad_weight_shows_message_and_keeps_table(server, page, text, problem):
    from playwright.sync_api import expect

    url, cache_dir = server
    page, errors = page
    open_reward_page(page, url)
    expected = spearman_texts(served_table(cache_dir), DEFAULT_WEIGHTS)

    page.fill("#reward-input-rings_5", text)
    page.press("#reward-input-rings_5", "Enter")

    message = page.locator("#reward-weights-error")
    expect(message).to_be_visible()
    expect(message).to_contain_text("rings_5")
    expect(message).to_contain_text(problem)
    for size, shown in expected.items():
        expect(page.locator(f"#reward-spearman-{size}")).to_have_text(shown)
    page.fill("#reward-input-rings_5", "0")
    page.press("#reward-input-rings_5", "Enter")
    expect(message).to_be_hidden()
    assert errors == []


def test_clicking_point_shows_cluster(server, page):
    from playwright.sync_api import expect

    url, _ = server
    page, errors = page
    open_reward_page(page, url)
    page.click("#reward-size")
    page.click("text=6 waters (30)")
    page.wait_for_function("document.querySelector('#reward-scatter .js-plotly-plot')._fullData[0].customdata[0][2] === 6")

    # Plotly draws the points on a canvas, so the test computes the screen
    # position of point 3 from the axes and clicks there.
    x, y, point = page.evaluate(
        """() => {
            const plot = document.querySelector('#reward-scatter .js-plotly-plot');
            const trace = plot._fullData[0], layout = plot._fullLayout, box = plot.getBoundingClientRect();
            return [box.left + layout._size.l + layout.xaxis.l2p(trace.x[3]),
                    box.top + layout._size.t + layout.yaxis.l2p(trace.y[3]), trace.customdata[3]];
        }"""
    )
    page.mouse.move(x, y)
    page.mouse.click(x, y)

    expect(page.locator("#reward-cluster-details h3")).to_have_text(f"Frame {point[1]}: 6 waters")
    expect(page.locator("#reward-graph canvas").first).to_be_attached()
    assert errors == []


def test_fit_fills_form_and_table(server, page):
    from playwright.sync_api import expect

    url, cache_dir = server
    page, errors = page
    open_reward_page(page, url)
    result = fit_with_split(served_table(cache_dir), 0.8, 0, DEFAULT_TOP_K)

    page.click("#reward-fit-button")

    expect(page.locator("#reward-fit-summary")).to_contain_text("seed 0")
    for train, test in zip(result.train_agreement, result.test_agreement):
        expect(page.locator(f"#reward-fit-train-{train.n_waters}")).to_have_text(format_value(train.spearman))
        expect(page.locator(f"#reward-fit-test-{test.n_waters}")).to_have_text(format_value(test.spearman))
    expect(page.locator("#reward-input-degree")).to_have_value(format_weight(result.weights.weight("degree")))
    expect(page.locator("#reward-input-aspl")).to_have_value(format_weight(result.weights.weight("aspl")))
    assert errors == []


def test_dataset_without_energies_shows_reward_only(server, page):
    from playwright.sync_api import expect

    url, _ = server
    page, errors = page
    open_reward_page(page, url)

    page.set_input_files(
        "#reward-upload input[type=file]",
        files=[{"name": "plain.extxyz", "mimeType": "chemical/x-xyz", "buffer": DIMERS_WITHOUT_ENERGY}],
    )

    label = page.locator("#reward-source-label")
    expect(label).to_have_text("Uploaded file: plain.extxyz, 2 clusters of 2 waters, 0 with an energy", timeout=FIRST_TABLE_TIMEOUT_MS)
    expect(page.locator("#reward-agreement-message")).to_contain_text("need cluster energies")
    expect(page.locator("#reward-agreement-table")).to_contain_text("The reward is still computed")
    page.wait_for_function("document.querySelector('#reward-scatter .js-plotly-plot')._fullData[0].type === 'histogram'")
    assert errors == []


def test_invalid_preset_name_shows_message(server, page):
    from playwright.sync_api import expect

    url, _ = server
    page, errors = page
    open_reward_page(page, url)

    page.fill("#reward-preset-name", "no spaces allowed")
    page.click("#reward-preset-save")

    message = page.locator("#reward-preset-message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("invalid preset name 'no spaces allowed'")
    assert errors == []


def test_server_file_cancel_then_load(server, page):
    from playwright.sync_api import expect

    path = require_file(TFRECORD_PATH)
    url, _ = server
    page, errors = page
    open_reward_page(page, url)
    label = page.locator("#reward-source-label")
    default_label = label.inner_text()

    page.fill("#reward-path", str(path))
    page.click("#reward-path-load")
    expect(page.locator("#reward-progress-box")).to_be_visible()
    page.click("#reward-cancel")

    expect(page.locator("#reward-job-message")).to_contain_text("Computation cancelled")
    expect(page.locator("#reward-progress-box")).to_be_hidden()
    assert label.inner_text() == default_label

    page.click("#reward-path-load")
    expect(label).to_contain_text("23520 clusters", timeout=LARGE_TABLE_TIMEOUT_MS)
    expect(label).to_contain_text(f"File on the server: {path.resolve()}")
    assert errors == []
