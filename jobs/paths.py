"""Project root, the runs root setting and the Python that runs the engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The checkout that contains ``jobs/`` and ``engine/``; jobs run with it as working directory.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Environment variable naming the runs root (default: ``var/runs`` under the project root).
RUNS_DIR_VARIABLE = "DESIGN_RUNS_DIR"


def default_runs_dir() -> Path:
    """Return the runs root from ``DESIGN_RUNS_DIR``, else ``var/runs`` under the project root."""
    configured = os.environ.get(RUNS_DIR_VARIABLE)
    return Path(configured) if configured else PROJECT_ROOT / "var" / "runs"


def local_python() -> str:
    """Return the Python executable for locally run jobs: the one running this process."""
    return sys.executable
