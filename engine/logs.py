"""The one place that configures logging for the command-line tools and the app."""

from __future__ import annotations

import logging
import os

#: Environment variable holding the log level name (DEBUG, INFO, WARNING, ...).
LOG_LEVEL_VARIABLE = "DESIGN_LOG_LEVEL"


def configure_logging(default_level: str = "INFO") -> None:
    """Send log records to stderr at the level from ``DESIGN_LOG_LEVEL`` or ``default_level``."""
    level_name = os.environ.get(LOG_LEVEL_VARIABLE, default_level).upper()
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        level = logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
