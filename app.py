"""Start the water-cluster design dashboard.

Usage:
    python app.py [--host HOST] [--port PORT] [--cache-dir DIR] [--presets-dir DIR] [--dataset FILE]
                  [--runs-dir DIR] [--require-password] [--debug]

Flags take precedence over the environment variables ``DESIGN_HOST``,
``DESIGN_PORT``, ``DESIGN_CACHE_DIR``, ``DESIGN_PRESETS_DIR``,
``DESIGN_DATASET``, ``DESIGN_RUNS_DIR``, ``DESIGN_REQUIRE_PASSWORD`` and
``DESIGN_DEBUG``, which take precedence over the defaults (127.0.0.1:8050,
``var/cache``, ``var/presets``, the embedded dataset, ``var/runs``).

Bound to an address other than loopback, or with ``--require-password``,
the dashboard requires HTTP basic auth with the user ``DESIGN_USER``
(default ``design``) and the password ``DESIGN_PASSWORD``, and it refuses to
start (exit status 2) when ``DESIGN_PASSWORD`` is not set.
"""

from __future__ import annotations

import logging
import sys
from typing import Sequence

import diskcache
from dash import Dash

from engine.errors import InputError
from engine.logs import configure_logging

from dashboard.auth import Credentials, load_credentials, log_auth, password_required, protect
from dashboard.background import ForkSafeDiskcacheManager
from dashboard.context import DashboardContext
from dashboard.layout import register_router, shell
from dashboard.pages import data, jobs, pathways, reward, search, train
from dashboard.settings import PROJECT_ROOT, Settings, SettingsError, load_settings, log_settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings, credentials: Credentials | None = None) -> Dash:
    """Build the Dash app for ``settings``, protected by ``credentials`` when given.

    Nothing is computed here: the default pathways and dataset tables are
    computed on first use. Only the folder of the background-job cache
    (``<cache_dir>/background``) is created. The runs root is created when
    a page first uses the job layer.

    Raises:
        SettingsError: when the settings require a password and ``credentials`` is None.
    """
    if credentials is None and password_required(settings):
        raise SettingsError(f"binding to {settings.host} or --require-password needs credentials; none were given")
    context = DashboardContext(settings)
    # Background callbacks (the Reward page's component tables) run in
    # separate processes and pass their progress and results through this cache.
    background = ForkSafeDiskcacheManager(diskcache.Cache(str(settings.cache_dir / "background")))
    app = Dash(
        __name__,
        title="Water cluster design",
        assets_folder=str(PROJECT_ROOT / "assets"),
        # Page components exist only while their page is shown.
        suppress_callback_exceptions=True,
        background_callback_manager=background,
    )
    app.layout = shell()
    register_router(app)
    pathways.register_callbacks(app, context)
    data.register_callbacks(app, context)
    reward.register_callbacks(app, context)
    train.register_callbacks(app, context)
    search.register_callbacks(app, context)
    jobs.register_callbacks(app, context)
    if credentials is not None:
        protect(app, credentials)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Resolve the settings, prepare the default pathways and serve the app until interrupted."""
    configure_logging()
    try:
        settings = load_settings(argv)
        credentials = load_credentials(settings)
    except InputError as error:
        logger.error("%s", error)
        return 2
    log_settings(settings)
    log_auth(settings, credentials)
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
    create_app(settings, credentials).run(host=settings.host, port=settings.port, debug=settings.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
