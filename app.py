"""Start the water-cluster design dashboard.

Usage:
    python app.py [--host HOST] [--port PORT] [--cache-dir DIR] [--presets-dir DIR] [--dataset FILE] [--debug]

Flags take precedence over the environment variables ``DESIGN_HOST``,
``DESIGN_PORT``, ``DESIGN_CACHE_DIR``, ``DESIGN_PRESETS_DIR``,
``DESIGN_DATASET`` and ``DESIGN_DEBUG``, which take precedence over the
defaults (127.0.0.1:8050, ``var/cache``, ``var/presets``, the embedded
dataset).
"""

from __future__ import annotations

import logging
import sys
from typing import Sequence

import diskcache
from dash import Dash, DiskcacheManager

from engine.errors import InputError
from engine.logs import configure_logging

from dashboard.context import DashboardContext
from dashboard.layout import register_router, shell
from dashboard.pages import data, pathways, reward
from dashboard.settings import PROJECT_ROOT, Settings, load_settings, log_settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> Dash:
    """Build the Dash app for ``settings``.

    Nothing is computed here: the default pathways and dataset tables are
    computed on first use. Only the folder of the background-job cache
    (``<cache_dir>/background``) is created.
    """
    context = DashboardContext(settings)
    # Background callbacks (the Reward page's component tables) run in
    # separate processes and pass their progress and results through this cache.
    jobs = DiskcacheManager(diskcache.Cache(str(settings.cache_dir / "background")))
    app = Dash(
        __name__,
        title="Water cluster design",
        assets_folder=str(PROJECT_ROOT / "assets"),
        # Page components exist only while their page is shown.
        suppress_callback_exceptions=True,
        background_callback_manager=jobs,
    )
    app.layout = shell()
    register_router(app)
    pathways.register_callbacks(app, context)
    data.register_callbacks(app, context)
    reward.register_callbacks(app, context)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Resolve the settings, prepare the default pathways and serve the app until interrupted."""
    configure_logging()
    try:
        settings = load_settings(argv)
    except InputError as error:
        logger.error("%s", error)
        return 2
    log_settings(settings)
    if not settings.dataset.is_file():
        logger.error("dataset %s not found; set --dataset or DESIGN_DATASET to a cluster file", settings.dataset)
        return 2

    try:
        # Computed and cached on disk before serving, so the first page view
        # does not wait for the search and a bad dataset stops the start.
        DashboardContext(settings).default_pathways_path()
    except (InputError, ValueError) as error:
        logger.error("cannot compute the default pathways from %s: %s", settings.dataset, error)
        return 2
    create_app(settings).run(host=settings.host, port=settings.port, debug=settings.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
