"""Helpers shared by the browser tests: starting ``app.py`` and launching the system Chromium.

The app runs as a subprocess on a free loopback port. Chromium is the
Debian one at ``/usr/bin/chromium``, and no browser is ever downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
#: Seconds to wait for the first HTTP response, because the first start computes the default pathways.
STARTUP_TIMEOUT_S = 300
#: Milliseconds Playwright waits for an element or a text.
UI_TIMEOUT_MS = 30_000


def skip_without_chromium() -> None:
    """Skip the calling test when the system Chromium is missing."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found; install it with 'apt-get install -y chromium'")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log_path: Path) -> None:
    """Poll ``url`` until it returns HTTP 200, failing early if the app exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with status {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"app.py did not respond at {url} within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


@contextmanager
def running_app(log_path: Path, environment: Mapping[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``app.py`` on a free port with extra environment variables, yield ``(url, process)``, then stop it."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=dict(os.environ, **environment),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log_path)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _is_known_cytoscape_race(error) -> bool:
    """Recognise a dash-cytoscape 1.0.2 error that leaves the page intact.

    When a graph's elements change twice in quick succession, the layout
    started for the first change can run on elements already removed, and
    cytoscape.js raises "Cannot read properties of null (reading 'notify')"
    from ``endBatch``; the next layout draws the graph correctly.
    """
    return "reading 'notify'" in str(error) and "dash_cytoscape" in (error.stack or "")


def collect_errors(page) -> list[str]:
    """Record the page's script errors and HTTP 5xx responses into the returned list."""
    errors: list[str] = []

    def on_page_error(error) -> None:
        # NOTE: this one library error is ignored; every other script error fails the test.
        if not _is_known_cytoscape_race(error):
            errors.append(f"page error: {error}")

    page.on("pageerror", on_page_error)
    page.on(
        "response",
        lambda response: errors.append(f"HTTP {response.status} for {response.url}") if response.status >= 500 else None,
    )
    return errors


@contextmanager
def chromium() -> Iterator:
    """Launch the system Chromium through Playwright and close it afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def fresh_page(browser) -> Iterator[tuple[object, list[str]]]:
    """Open a page in a new browser context (own session storage) and yield it with the errors it collects."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    opened = context.new_page()
    opened.set_default_timeout(UI_TIMEOUT_MS)
    errors = collect_errors(opened)
    try:
        yield opened, errors
    finally:
        context.close()
