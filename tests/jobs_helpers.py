"""Helpers shared by the job-layer tests (``tests/test_jobs*.py``)."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MINIMA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "minima"
TINY_SURROGATE_CONFIG = PROJECT_ROOT / "configs" / "surrogate-tiny.yaml"

#: A search that finishes in a few seconds: pentamer to 7 waters, b = 2.
SHORT_SEARCH = {"start": "pentamer", "target_size": 7, "branching": 2}
#: A search that runs until cancelled (up to 10 minutes).
LONG_SEARCH = {"start": "pentamer", "target_size": 60, "branching": 8, "max_results": 100_000,
               "max_expansions": 100_000_000, "max_seconds": 600.0, "no_settle": True}


@functools.lru_cache(maxsize=None)
def engine_command_available(command: str) -> bool:
    """Return whether ``python -m engine COMMAND --help`` succeeds."""
    result = subprocess.run([sys.executable, "-m", "engine", command, "--help"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False)
    return result.returncode == 0


def require_engine_command(command: str) -> None:
    """Skip the calling test unless the engine has ``command``."""
    if not engine_command_available(command):
        pytest.skip(f"'python -m engine {command}' does not exist yet; this test runs once the engine has it")


def minima_dataset(path: Path, sizes: range = range(3, 21)) -> Path:
    """Write the global minima of (H2O)3 to (H2O)20 as one multi-frame xyz file with energies.

    Skips the calling test when the shared data is missing.
    """
    frames = []
    for n_waters in sizes:
        source = MINIMA_DIR / f"w{n_waters}_lowest.xyz"
        if not source.is_file():
            pytest.skip(f"real data file {source} is missing (expected in ../shared/data beside the project root)")
        frames.append(source.read_text().rstrip("\n"))
    path.write_text("\n".join(frames) + "\n")
    return path


def require_tiny_config() -> Path:
    if not TINY_SURROGATE_CONFIG.is_file():
        pytest.skip(f"{TINY_SURROGATE_CONFIG} does not exist yet")
    return TINY_SURROGATE_CONFIG


def wait_until(condition, timeout_s: float, poll_s: float = 0.05, what: str = "condition"):
    """Poll ``condition()`` until it returns a true value, and return that value; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def injection_files(folder: Path) -> list[tuple[Path, Path]]:
    """Create files whose paths contain shell syntax that would create a marker file if run.

    Returns (input file, marker) pairs. Each input file is real, so that
    validation passes, but contains no cluster, so the engine exits with 2.
    """
    pairs = []
    templates = [
        "$(touch {marker})",
        "`touch {marker}`",
        "'; touch {marker}; '",
        '"; touch {marker}; "',
        "a b;touch {marker}&&",
    ]
    for index, template in enumerate(templates):
        marker = folder / f"pwned-{index}"
        path = folder / f"case{index}" / template.format(marker=marker) / "start.xyz"
        path.parent.mkdir(parents=True)
        path.write_text("not a cluster file\n")
        pairs.append((path, marker))
    return pairs
