"""Settings of the dashboard server, from command-line flags, environment and defaults.

Each setting takes the first value found in this order: the command-line
flag, the environment variable, the default.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.defaults import DEFAULT_DATASET
from engine.errors import InputError

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
DEFAULT_CACHE_DIR = PROJECT_ROOT / "var" / "cache"
DEFAULT_PRESETS_DIR = PROJECT_ROOT / "var" / "presets"
DEFAULT_RUNS_DIR = PROJECT_ROOT / "var" / "runs"

#: Setting name to the environment variable that sets it.
ENVIRONMENT_VARIABLES = {
    "host": "DESIGN_HOST",
    "port": "DESIGN_PORT",
    "cache_dir": "DESIGN_CACHE_DIR",
    "presets_dir": "DESIGN_PRESETS_DIR",
    "dataset": "DESIGN_DATASET",
    "runs_dir": "DESIGN_RUNS_DIR",
    "require_password": "DESIGN_REQUIRE_PASSWORD",
    "debug": "DESIGN_DEBUG",
}


class Settings(BaseModel):
    """Settings of one dashboard server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(DEFAULT_HOST, min_length=1, description="Address the HTTP server binds to.")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="TCP port the HTTP server listens on.")
    cache_dir: Path = Field(
        DEFAULT_CACHE_DIR,
        description="Folder for the computed default pathways, component tables, background jobs and uploaded files.",
    )
    presets_dir: Path = Field(
        DEFAULT_PRESETS_DIR,
        description="Folder where the Reward page saves reward presets; the shipped presets stay read-only.",
    )
    dataset: Path = Field(
        DEFAULT_DATASET,
        description="Cluster file shown on the Data page and used to compute the default pathways.",
    )
    runs_dir: Path = Field(
        DEFAULT_RUNS_DIR,
        description="Runs root of the job layer: one run folder per job submitted from the Jobs, Train and Search pages.",
    )
    require_password: bool = Field(
        False,
        description="Require the HTTP basic auth password even on a loopback address; "
        "any other address always requires it.",
    )
    debug: bool = Field(False, description="Run Dash in debug mode (reloader and in-browser error pages).")


class SettingsError(InputError):
    """Settings that cannot be used, with the setting and the value at fault."""


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of ``app.py``."""
    parser = argparse.ArgumentParser(description="Design dashboard for water clusters as hydrogen-bond graphs.")
    parser.add_argument("--host", help=f"address to bind to (env DESIGN_HOST, default {DEFAULT_HOST})")
    parser.add_argument("--port", help=f"TCP port to listen on (env DESIGN_PORT, default {DEFAULT_PORT})")
    parser.add_argument("--cache-dir", help="folder for computed pathways and uploads (env DESIGN_CACHE_DIR, default var/cache)")
    parser.add_argument(
        "--presets-dir", help="folder for reward presets saved from the Reward page (env DESIGN_PRESETS_DIR, default var/presets)"
    )
    parser.add_argument("--dataset", help="cluster file for the Data page and the default pathways (env DESIGN_DATASET)")
    parser.add_argument("--runs-dir", help="runs root of the job layer (env DESIGN_RUNS_DIR, default var/runs)")
    parser.add_argument(
        "--require-password",
        action="store_true",
        default=None,
        help="require the password of DESIGN_PASSWORD even on 127.0.0.1 (env DESIGN_REQUIRE_PASSWORD=1)",
    )
    parser.add_argument(
        "--debug", action="store_true", default=None, help="run Dash in debug mode (env DESIGN_DEBUG=1)"
    )
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve the settings from flags, then environment variables, then defaults.

    Args:
        argv: Command-line arguments without the program name; ``None`` reads ``sys.argv``.
        environ: Environment variables; ``None`` reads ``os.environ``.

    Raises:
        SettingsError: naming the setting and the value when a value is invalid.
    """
    environ = os.environ if environ is None else environ
    flags = vars(build_parser().parse_args(argv))
    values = {}
    for name, variable in ENVIRONMENT_VARIABLES.items():
        value = flags.get(name)
        if value is None:
            value = environ.get(variable) or None
        if value is not None:
            values[name] = value
    try:
        return Settings(**values)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        raise SettingsError(
            f"invalid setting {name}={values.get(name)!r}: {first['msg']} "
            f"(set it with --{name.replace('_', '-')} or {ENVIRONMENT_VARIABLES.get(name, 'its default')})"
        ) from None


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is ``localhost`` or a loopback IP address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def log_settings(settings: Settings) -> None:
    """Log every setting with its description, and warn when the server is reachable from other hosts."""
    for name, field in Settings.model_fields.items():
        logger.info("setting %s = %s (%s)", name, getattr(settings, name), field.description)
    if not is_loopback(settings.host):
        logger.warning(
            "binding to %s makes the dashboard reachable from other machines on port %d; it requires the "
            "password, which HTTP basic auth sends unencrypted unless a TLS proxy serves the dashboard",
            settings.host,
            settings.port,
        )
    if settings.debug:
        logger.warning("debug mode is on: do not use it on a shared network")
