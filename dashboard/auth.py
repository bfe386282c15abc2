"""Password protection of the dashboard with HTTP basic auth.

The dashboard requires a password when it binds to an address other than
loopback, or when ``--require-password`` is set. The user name comes from
``DESIGN_USER`` (default ``design``) and the password from ``DESIGN_PASSWORD``.
A server that needs a password and has none refuses to start.

HTTP basic auth sends the password base64-encoded, not encrypted, so on a
shared network the dashboard belongs behind a TLS proxy.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Mapping

from dash import Dash
from dash_auth import BasicAuth

from dashboard.settings import Settings, SettingsError, is_loopback

logger = logging.getLogger(__name__)

USER_VARIABLE = "DESIGN_USER"
PASSWORD_VARIABLE = "DESIGN_PASSWORD"
DEFAULT_USER = "design"


@dataclass(frozen=True)
class Credentials:
    """The one user name and password the dashboard accepts.

    Attributes:
        user: User name.
        password: Password; left out of ``repr`` so that it never reaches a log.
    """

    user: str
    password: str = field(repr=False)

    def matches(self, user: str, password: str) -> bool:
        """Return whether ``user`` and ``password`` are the accepted ones, in time independent of where they differ."""
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok


def password_required(settings: Settings) -> bool:
    """Return whether the server must require a password: on a non-loopback address or with ``require_password``."""
    return settings.require_password or not is_loopback(settings.host)


def load_credentials(settings: Settings, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Return the credentials to require, or None when the server needs no password.

    Args:
        settings: The server settings.
        environ: Environment variables; ``None`` reads ``os.environ``.

    Raises:
        SettingsError: when a password is required and ``DESIGN_PASSWORD`` is
            unset or empty, or when ``DESIGN_USER`` contains a colon, which
            basic auth cannot carry in a user name.
    """
    if not password_required(settings):
        return None
    environ = os.environ if environ is None else environ
    password = environ.get(PASSWORD_VARIABLE) or ""
    if not password:
        reason = "--require-password is set" if is_loopback(settings.host) else f"the server binds to {settings.host}"
        raise SettingsError(
            f"{reason}, so the dashboard requires a password, but {PASSWORD_VARIABLE} is not set; "
            f"set {PASSWORD_VARIABLE} (and optionally {USER_VARIABLE}, default {DEFAULT_USER!r}) or bind to 127.0.0.1"
        )
    user = environ.get(USER_VARIABLE) or DEFAULT_USER
    if ":" in user:
        raise SettingsError(f"invalid {USER_VARIABLE}={user!r}: a basic auth user name cannot contain ':'")
    return Credentials(user, password)


class DashboardBasicAuth(BasicAuth):
    """dash-auth's basic auth that returns 401 for a malformed ``Authorization`` header.

    dash-auth 2.3.0 raises on a header that is not ``Basic <base64 of user:password>``,
    which Flask turns into an HTTP 500.
    """

    def is_authorized(self) -> bool:
        try:
            return super().is_authorized()
        except (IndexError, ValueError) as error:
            # binascii.Error and UnicodeDecodeError are ValueErrors.
            logger.debug("malformed Authorization header: %s", error)
            return False


def protect(app: Dash, credentials: Credentials) -> None:
    """Require ``credentials`` on every route of ``app``, the Dash callbacks and assets included."""
    # dash-auth stores the user in the Flask session. A random key per process
    # keeps the session signed. A restart only makes the browser send the
    # password again, which it does by itself.
    DashboardBasicAuth(app, auth_func=credentials.matches, secret_key=secrets.token_hex(32))


def log_auth(settings: Settings, credentials: Credentials | None) -> None:
    """Log whether the server requires a password and for which user. The password itself is never logged."""
    if credentials is None:
        logger.info(
            "no password required: the server binds to loopback address %s (set --require-password to require %s)",
            settings.host,
            PASSWORD_VARIABLE,
        )
        return
    logger.info(
        "password required: HTTP basic auth as user %r with the password from %s", credentials.user, PASSWORD_VARIABLE
    )
