"""End-to-end tests of the Search, Train and Jobs pages in a real Chromium, driven by Playwright.

The app runs as a subprocess with fresh cache, presets and runs folders
(``DESIGN_RUNS_DIR``), and the jobs it submits run on the local backend.
Every job still unfinished at the end is cancelled through the job layer.
Expected values come from the job's own files in the runs folder.
"""

from __future__ import annotations

import pytest

from dashboard.formatting import format_value
from dashboard.jobs_data import JobService
from dashboard.reward_logic import DEFAULT_TOP_K
from engine.agreement import agreement_by_size
from engine.components import compute_table, predict_clusters
from engine.defaults import DEFAULT_DATASET
from engine.io import read_clusters
from engine.pathways import load_pathways
from engine.reward import DEFAULT_WEIGHTS, SURROGATE_COMPONENT, RewardWeights
from tests.browser_support import chromium, fresh_page, running_app, skip_without_chromium
from tests.jobs_helpers import engine_command_available

pytestmark = pytest.mark.browser

#: Milliseconds to wait for a short job to finish; it may wait for the one local job slot of a 2-core machine.
JOB_TIMEOUT_MS = 180_000
GRID_ROWS = "#jobs-grid .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Start ``app.py`` and yield ``(url, job service)``; cancel unfinished jobs and stop the app afterwards."""
    skip_without_chromium()
    runs_dir = tmp_path_factory.mktemp("runs")
    environment = {
        "DESIGN_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "DESIGN_PRESETS_DIR": str(tmp_path_factory.mktemp("presets")),
        "DESIGN_RUNS_DIR": str(runs_dir),
    }
    service = JobService(runs_dir)
    log_path = tmp_path_factory.mktemp("log") / "app.log"
    try:
        with running_app(log_path, environment) as (url, _):
            yield url, service
    finally:
        for status in service.statuses():
            if not status.state.is_final:
                service.cancel(status.job_id)


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    """Yield a page in a fresh browser context and the list of errors it collects."""
    with fresh_page(browser) as opened:
        yield opened


def submitted_job_id(page, message_id: str) -> str:
    """Wait for a submission message and return the job id its link names."""
    from playwright.sync_api import expect

    message = page.locator(f"#{message_id}")
    expect(message).to_contain_text("Submitted")
    return message.locator("a").inner_text().strip()


def fill_search_form(page, target_size: int, branching: int, **bounds: int) -> None:
    page.fill("#search-target-size", str(target_size))
    page.fill("#search-branching", str(branching))
    for name, value in bounds.items():
        page.fill(f"#search-{name.replace('_', '-')}", str(value))


def test_search_job_opens_in_pathways(server, page):
    from playwright.sync_api import expect

    url, service = server
    browser_page, errors = page
    browser_page.goto(url + "search")
    fill_search_form(browser_page, 7, 2)
    browser_page.click("#search-launch")
    job_id = submitted_job_id(browser_page, "search-message")

    browser_page.click("#nav-jobs")
    row = browser_page.locator(GRID_ROWS, has_text=job_id)
    expect(row).to_have_count(1)
    expect(row.locator("[col-id=kind]")).to_have_text("search")
    expect(row.locator("[col-id=state]")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    row.locator("[col-id=job_id]").click()
    expect(browser_page.locator("#jobs-detail-title")).to_contain_text(job_id)
    expect(browser_page.locator("#jobs-spec")).to_contain_text('"target_size": 7')
    expect(browser_page.locator("#jobs-log")).to_contain_text("succeeded")

    browser_page.click("#jobs-artifacts >> text=Open in Pathways")
    pathways = load_pathways(service.pathways_path(job_id))
    steps = pathways.pathways[0].steps
    expect(browser_page.locator("#pathways-source-label")).to_contain_text(job_id)
    expect(browser_page.locator("#pathways-step-label")).to_have_text(f"Step 0 of {len(steps) - 1}")
    expect(browser_page.locator("#pathways-graph canvas").first).to_be_attached()
    expect(browser_page.locator("#pathways-n-waters")).to_have_text(format_value(steps[0].n_waters))
    browser_page.click("#pathways-next")
    expect(browser_page.locator("#pathways-step-label")).to_have_text(f"Step 1 of {len(steps) - 1}")
    expect(browser_page.locator("#pathways-n-waters")).to_have_text(format_value(steps[1].n_waters))
    assert errors == []


def test_search_form_kept_when_returning(server, page):
    from playwright.sync_api import expect

    url, _ = server
    browser_page, errors = page
    browser_page.goto(url + "search")
    fill_search_form(browser_page, 9, 2, max_results=4)
    browser_page.click("#search-reward")
    browser_page.get_by_role("option", name="Current weights of the Reward page").click()

    browser_page.click("#nav-jobs")
    browser_page.click("#nav-search")

    expect(browser_page.locator("#search-target-size")).to_have_value("9")
    expect(browser_page.locator("#search-branching")).to_have_value("2")
    expect(browser_page.locator("#search-max-results")).to_have_value("4")
    expect(browser_page.locator("#search-reward")).to_contain_text("Current weights of the Reward page")
    assert errors == []


def test_invalid_search_shows_error(server, page):
    from playwright.sync_api import expect

    url, service = server
    browser_page, errors = page
    before = service.ids_of_kind("search")
    browser_page.goto(url + "search")

    fill_search_form(browser_page, 4, 2)
    browser_page.click("#search-launch")
    message = browser_page.locator("#search-message")
    expect(message).to_contain_text("must be above the start graph's 5 waters")
    fill_search_form(browser_page, 7, 0)
    browser_page.click("#search-launch")
    expect(message).to_contain_text("params.branching")

    assert service.ids_of_kind("search") == before
    assert errors == []


def test_training_job_draws_loss_chart(server, page):
    from playwright.sync_api import expect

    if not engine_command_available("train"):
        pytest.skip("'python -m engine train --help' fails, so the surrogate training command is not available yet")
    url, service = server
    browser_page, errors = page
    browser_page.goto(url + "train")
    expect(browser_page.locator("#train-source-label")).to_contain_text("default_clusters")
    browser_page.click("#train-config")
    browser_page.get_by_role("option", name="surrogate-tiny.yaml").click()
    expect(browser_page.locator("#train-epochs")).to_have_value("3")
    browser_page.click("#train-launch")
    job_id = submitted_job_id(browser_page, "train-message")

    expect(browser_page.locator("#train-job-status")).to_contain_text(job_id)
    expect(browser_page.locator("#train-loss-chart .point").first).to_be_attached(timeout=JOB_TIMEOUT_MS)
    expect(browser_page.locator("#train-results")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    metrics = service.metrics(job_id, "train-surrogate")
    assert len(metrics) >= 1
    # Train loss, validation loss and validation MAE have one point per finished epoch each.
    assert browser_page.locator("#train-loss-chart .point").count() == 3 * len(metrics)
    expect(browser_page.locator("#train-parity-chart .point").first).to_be_attached()

    browser_page.click("#train-use-model")
    expect(browser_page.locator("#train-selected-model")).to_contain_text(job_id)

    # The chosen model is the Reward page's surrogate: a weight on it changes the agreement table.
    model_dir = str(service.model_dir(job_id))
    browser_page.click("#nav-reward")
    expect(browser_page.locator("#reward-surrogate-model")).to_contain_text(job_id)
    clusters = list(read_clusters(DEFAULT_DATASET))
    table = compute_table(clusters)
    predicted = predict_clusters(clusters, model_dir)
    weighted = RewardWeights(dict(DEFAULT_WEIGHTS.weights), surrogate_weight=-1.0, surrogate_model=model_dir)
    before = spearman_texts(table.rewards(DEFAULT_WEIGHTS), table)
    after = spearman_texts(table.rewards(weighted, predicted), table)
    size = next(size for size in before if before[size] != after[size])
    expect(browser_page.locator(f"#reward-spearman-{size}")).to_have_text(before[size], timeout=JOB_TIMEOUT_MS)

    browser_page.fill(f"#reward-input-{SURROGATE_COMPONENT}", "-1")
    browser_page.press(f"#reward-input-{SURROGATE_COMPONENT}", "Enter")
    for other, text in after.items():
        expect(browser_page.locator(f"#reward-spearman-{other}")).to_have_text(text, timeout=JOB_TIMEOUT_MS)
    expect(browser_page.locator("#reward-breakdown-chart")).to_contain_text(SURROGATE_COMPONENT)
    expect(browser_page.locator("#reward-cluster-details")).to_contain_text("Predicted energy (kcal/mol)")

    # The Search page describes its "current weights" choice with the chosen model.
    browser_page.click("#nav-search")
    browser_page.click("#search-reward")
    browser_page.get_by_role("option", name="Current weights of the Reward page").click()
    expect(browser_page.locator("#search-reward-note")).to_contain_text(f"{SURROGATE_COMPONENT} = -1")
    expect(browser_page.locator("#search-reward-note")).to_contain_text(f"Surrogate model: {model_dir}")

    # A shipped preset has no surrogate: loading it sets the weight to 0 and keeps the chosen model.
    browser_page.click("#nav-reward")
    browser_page.click("#reward-preset")
    browser_page.get_by_role("option", name="default (shipped)").click()
    browser_page.click("#reward-preset-load")
    expect(browser_page.locator(f"#reward-input-{SURROGATE_COMPONENT}")).to_have_value("0")
    expect(browser_page.locator("#reward-surrogate-model")).to_contain_text(job_id)
    for other, text in before.items():
        expect(browser_page.locator(f"#reward-spearman-{other}")).to_have_text(text)
    assert errors == []


def spearman_texts(rewards, table) -> dict[int, str]:
    """Return the shown text of every size's Spearman rho for ``rewards``, computed by the engine."""
    agreement = agreement_by_size(rewards, table.energies, table.n_waters, DEFAULT_TOP_K)
    return {entry.n_waters: format_value(entry.spearman) for entry in agreement}


def test_long_search_cancelled_from_jobs_page(server, page):
    from playwright.sync_api import expect

    url, service = server
    browser_page, errors = page
    browser_page.goto(url + "search")
    fill_search_form(browser_page, 12, 3, max_seconds=3600, max_results=100000, max_expansions=100000000)
    browser_page.click("#search-launch")
    job_id = submitted_job_id(browser_page, "search-message")

    browser_page.click("#search-message a")
    expect(browser_page.locator("#jobs-detail-title")).to_contain_text(job_id)
    expect(browser_page.locator("#jobs-detail-title .state-badge")).to_have_text("running", timeout=JOB_TIMEOUT_MS)
    browser_page.click("#jobs-cancel")
    expect(browser_page.locator("#jobs-action-message")).to_contain_text("cancelled")
    expect(browser_page.locator("#jobs-detail-title .state-badge")).to_have_text("cancelled")
    row = browser_page.locator(GRID_ROWS, has_text=job_id)
    expect(row.locator("[col-id=state]")).to_have_text("cancelled")
    expect(browser_page.locator("#jobs-cancel")).to_be_disabled()

    assert service.status(job_id).state.value == "cancelled"
    assert errors == []
