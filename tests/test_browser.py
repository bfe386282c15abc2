"""End-to-end test of the dashboard in a real Chromium, driven by Playwright.

The test starts ``app.py`` as a subprocess on a free loopback port with a
fresh cache folder, so the first start computes the default pathways (up to
a few minutes on a slow machine). It uses the Chromium of the system
(``/usr/bin/chromium``) and never downloads a browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.formatting import format_value
from engine.descriptors import describe
from engine.pathways import PathwaysFile, load_pathways
from engine.reward import DEFAULT_WEIGHTS, RewardWeights, score
from tests.browser_support import chromium, fresh_page, running_app, skip_without_chromium

pytestmark = pytest.mark.browser

#: Number of Next clicks checked on the Pathways page.
NEXT_CLICKS = 5

# A water dimer in which water 0 donates one hydrogen bond to water 1.
DIMER_XYZ = b"""6
-5.0
O 0.0 0.0 0.0
H 0.9572 0.0 0.0
H -0.2396 0.9267 0.0
O 2.91 0.0 0.0
H 3.496 0.0 0.757
H 3.496 0.0 -0.757
"""
# The same dimer with carbon in place of the second oxygen: "only O and H are allowed".
BAD_XYZ = DIMER_XYZ.replace(b"O 2.91", b"C 2.91")
GRID_ROWS = "#data-grid .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Start ``app.py`` on a free port and yield ``(url, cache_dir, process)``; stop it afterwards."""
    skip_without_chromium()
    cache_dir = tmp_path_factory.mktemp("cache")
    log_path = tmp_path_factory.mktemp("log") / "app.log"
    with running_app(log_path, {"DESIGN_CACHE_DIR": str(cache_dir)}) as (url, process):
        yield url, cache_dir, process


@pytest.fixture(scope="module")
def browser_page(server):
    """Yield a Chromium page and the list of page errors it collects."""
    with chromium() as browser, fresh_page(browser) as opened:
        yield opened


def served_pathways_path(cache_dir: Path) -> Path:
    """Return the default pathways file the app computed into its cache folder."""
    files = sorted(cache_dir.glob("default-pathways-*.json"))
    assert len(files) == 1, f"expected one default pathways file in {cache_dir}, found {files}"
    return files[0]


def served_pathways(cache_dir: Path) -> PathwaysFile:
    """Load the default pathways file the app computed into its cache folder."""
    return load_pathways(served_pathways_path(cache_dir))


def shown(page, component_id: str) -> str:
    return page.locator(f"#{component_id}").inner_text().strip()


def test_pathways_page_shows_file_values(server, browser_page):
    from playwright.sync_api import expect

    url, cache_dir, _ = server
    page, errors = browser_page
    pathways = served_pathways(cache_dir)
    steps = pathways.pathways[0].steps
    graphs = pathways.water_graphs(0)
    last = len(steps) - 1

    page.goto(url)
    expect(page.locator("#pathways-step-label")).to_have_text(f"Step 0 of {last}", timeout=60_000)
    expect(page.locator("#pathways-graph canvas").first).to_be_attached()

    for step in range(min(NEXT_CLICKS, last) + 1):
        if step:
            page.click("#pathways-next")
        expect(page.locator("#pathways-step-label")).to_have_text(f"Step {step} of {last}")
        record = steps[step]
        described = describe(graphs[step])
        expected = {
            "pathways-rings-3": format_value(record.rings_3),
            "pathways-rings-4": format_value(record.rings_4),
            "pathways-rings-5": format_value(record.rings_5),
            "pathways-rings-6": format_value(record.rings_6),
            "pathways-diameter": format_value(record.diameter),
            "pathways-aspl": format_value(record.aspl),
            "pathways-degree-mean": format_value(record.degree_mean),
            "pathways-reward": format_value(record.reward),
        }
        for component_id, text in expected.items():
            assert shown(page, component_id) == text, f"step {step}: {component_id}"
        # The file's values must also agree with the engine on the step's graph.
        assert expected["pathways-rings-3"] == format_value(described.rings_3)
        assert expected["pathways-diameter"] == format_value(described.diameter)
        assert expected["pathways-aspl"] == format_value(described.aspl)
        assert expected["pathways-degree-mean"] == format_value(described.degree_mean)

    assert errors == []


def test_rescored_breakdown_shown_with_stored_one(server, browser_page):
    from playwright.sync_api import expect

    url, cache_dir, _ = server
    page, errors = browser_page
    pathways = served_pathways(cache_dir)
    weights = RewardWeights({**DEFAULT_WEIGHTS.weights, "rings_4": 2.0}, DEFAULT_WEIGHTS.degree_target)
    rescored = score(pathways.water_graphs(0)[1], weights)

    page.goto(url + "reward")
    page.fill("#reward-input-rings_4", "2")
    page.press("#reward-input-rings_4", "Enter")
    expect(page.locator("#reward-input-rings_4")).to_have_value("2")
    page.click("#nav-pathways")
    expect(page.locator("#pathways-step-label")).to_contain_text("Step 0 of", timeout=60_000)
    page.click("#pathways-next")
    page.locator("#pathways-rescore input").check()

    breakdown = page.locator("#pathways-reward-breakdown")
    expect(breakdown).to_contain_text("Re-scored with the Reward page's weights")
    expect(breakdown).to_contain_text("Stored in the pathways file")
    totals = breakdown.locator(".total-row th.number")
    expect(totals.nth(0)).to_have_text(format_value(rescored.total))
    expect(totals.nth(1)).to_have_text(format_value(pathways.pathways[0].steps[1].reward))
    # The page is shared by this module's tests: the next ones start from the default weights again.
    page.evaluate("sessionStorage.clear()")
    assert errors == []


def test_pathways_bad_upload_keeps_pathways(server, browser_page):
    from playwright.sync_api import expect

    url, cache_dir, _ = server
    page, errors = browser_page
    last = len(served_pathways(cache_dir).pathways[0].steps) - 1
    page.goto(url)
    expect(page.locator("#pathways-step-label")).to_have_text(f"Step 0 of {last}", timeout=60_000)

    page.set_input_files(
        "#pathways-upload input[type=file]",
        files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b"{not json"}],
    )

    expect(page.locator("#pathways-upload-error")).to_contain_text("broken.json: not a JSON file")
    page.click("#pathways-next")
    expect(page.locator("#pathways-step-label")).to_have_text(f"Step 1 of {last}")
    assert errors == []


def test_pathways_good_upload_replaces_pathways(server, browser_page):
    from playwright.sync_api import expect

    url, cache_dir, _ = server
    page, errors = browser_page
    content = served_pathways_path(cache_dir).read_bytes()
    page.goto(url)
    expect(page.locator("#pathways-source-label")).to_contain_text("Default pathways:", timeout=60_000)

    page.set_input_files(
        "#pathways-upload input[type=file]",
        files=[{"name": "copy.json", "mimeType": "application/json", "buffer": content}],
    )

    expect(page.locator("#pathways-source-label")).to_contain_text("copy.json:")
    expect(page.locator("#pathways-upload-error")).to_be_hidden()
    expect(page.locator("#pathways-step-label")).to_contain_text("Step 0 of")
    # The upload stays loaded across pages, because its store lives in session storage.
    page.click("#nav-data")
    expect(page.locator(GRID_ROWS).first).to_be_visible(timeout=60_000)
    page.click("#nav-pathways")
    expect(page.locator("#pathways-source-label")).to_contain_text("copy.json:")
    assert errors == []


def test_data_page_bad_upload_keeps_table(server, browser_page):
    from playwright.sync_api import expect

    url, _, process = server
    page, errors = browser_page
    page.goto(url)
    page.click("#nav-data")
    expect(page.locator(GRID_ROWS).first).to_be_visible(timeout=60_000)
    label_before = shown(page, "data-source-label")
    rows_before = page.locator(GRID_ROWS).count()

    page.set_input_files(
        "#data-upload input[type=file]",
        files=[{"name": "carbon.xyz", "mimeType": "chemical/x-xyz", "buffer": BAD_XYZ}],
    )

    error = page.locator("#data-upload-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("carbon.xyz, frame 0")
    expect(error).to_contain_text("only O and H are allowed")
    assert shown(page, "data-source-label") == label_before
    assert page.locator(GRID_ROWS).count() == rows_before

    # The page still works: choosing a row shows that cluster.
    first_row = page.locator(GRID_ROWS).first
    frame = first_row.locator('[col-id="frame"]').inner_text().strip()
    first_row.click()
    expect(page.locator("#data-details")).to_contain_text(f"Frame {frame}:")
    expect(page.locator("#data-graph canvas").first).to_be_attached()
    assert process.poll() is None
    assert errors == []


def test_data_page_good_upload_replaces_table(server, browser_page):
    from playwright.sync_api import expect

    url, _, _ = server
    page, errors = browser_page
    page.goto(url)
    page.click("#nav-data")
    expect(page.locator(GRID_ROWS).first).to_be_visible(timeout=60_000)
    default_label = shown(page, "data-source-label")

    page.set_input_files(
        "#data-upload input[type=file]",
        files=[{"name": "dimer.xyz", "mimeType": "chemical/x-xyz", "buffer": DIMER_XYZ}],
    )

    expect(page.locator("#data-source-label")).to_have_text("Uploaded file: dimer.xyz, 1 cluster")
    expect(page.locator(GRID_ROWS)).to_have_count(1)
    expect(page.locator("#data-upload-error")).to_be_hidden()
    page.click("#data-reset")
    expect(page.locator("#data-source-label")).to_have_text(default_label)
    assert errors == []
