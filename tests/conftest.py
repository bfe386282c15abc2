"""Shared pytest set-up: markers and the CI rule that a skip is a failure."""

from __future__ import annotations

import os

import pytest

#: When set to 1, a skipped test fails instead (CI sets it so that tests
#: needing Chromium or Slurm always run there).
REQUIRE_ALL_VARIABLE = "DESIGN_REQUIRE_ALL_TESTS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the dashboard in a real headless Chromium")
    config.addinivalue_line("markers", "slurm: needs the local test Slurm cluster")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(REQUIRE_ALL_VARIABLE) == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but {REQUIRE_ALL_VARIABLE}=1 requires every test to run: {reason}"
