"""Tests of the dashboard's password protection: when it applies, the credentials and the served app.

The server test starts ``app.py`` on 127.0.0.1 with ``--require-password``,
so the protected path runs without binding to any other address.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import app as app_module
from app import create_app
from dashboard.auth import Credentials, load_credentials, log_auth, password_required
from dashboard.settings import Settings, SettingsError, load_settings
from tests.browser_support import PROJECT_ROOT, STARTUP_TIMEOUT_S, free_port

PASSWORD = "correct horse battery staple"


def basic_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def protected_client(tmp_path):
    settings = Settings(cache_dir=tmp_path / "cache", dataset=tmp_path / "missing.extxyz", runs_dir=tmp_path / "runs",
                        require_password=True)
    return create_app(settings, Credentials("design", PASSWORD)).server.test_client()


# Settings and credentials ---------------------------------------------------------


def test_require_password_from_flag_and_environment():
    assert load_settings([], {}).require_password is False
    assert load_settings(["--require-password"], {}).require_password is True
    assert load_settings([], {"DESIGN_REQUIRE_PASSWORD": "1"}).require_password is True


@pytest.mark.parametrize("host, require, expected", [("127.0.0.1", False, False), ("localhost", False, False),
                                                     ("127.0.0.1", True, True), ("0.0.0.0", False, True),
                                                     ("192.168.1.5", False, True)])
def test_password_required(host, require, expected):
    assert password_required(Settings(host=host, require_password=require)) is expected


def test_no_credentials_on_loopback():
    assert load_credentials(Settings(), {"DESIGN_PASSWORD": PASSWORD}) is None


def test_credentials_from_environment():
    settings = Settings(require_password=True)

    assert load_credentials(settings, {"DESIGN_PASSWORD": PASSWORD}) == Credentials("design", PASSWORD)
    assert load_credentials(settings, {"DESIGN_PASSWORD": PASSWORD, "DESIGN_USER": "ana"}).user == "ana"


@pytest.mark.parametrize("host, require, reason", [("0.0.0.0", False, "binds to 0.0.0.0"),
                                                   ("127.0.0.1", True, "--require-password is set")])
def test_missing_password_is_rejected(host, require, reason):
    settings = Settings(host=host, require_password=require)

    for environ in ({}, {"DESIGN_PASSWORD": ""}):
        with pytest.raises(SettingsError, match=reason) as raised:
            load_credentials(settings, environ)
        assert "DESIGN_PASSWORD is not set" in str(raised.value)


def test_user_with_colon_is_rejected():
    with pytest.raises(SettingsError, match="cannot contain ':'"):
        load_credentials(Settings(require_password=True), {"DESIGN_PASSWORD": PASSWORD, "DESIGN_USER": "a:b"})


def test_credentials_match_and_hide_password():
    credentials = Credentials("design", PASSWORD)

    assert credentials.matches("design", PASSWORD)
    assert not credentials.matches("design", PASSWORD + "x")
    assert not credentials.matches("other", PASSWORD)
    assert PASSWORD not in repr(credentials)


def test_log_auth_never_logs_password(caplog):
    with caplog.at_level(logging.INFO, logger="dashboard.auth"):
        log_auth(Settings(require_password=True), Credentials("design", PASSWORD))
        log_auth(Settings(), None)

    messages = [record.getMessage() for record in caplog.records]
    assert "password required" in messages[0]
    assert "'design'" in messages[0]
    assert "no password required" in messages[1]
    assert all(PASSWORD not in message for message in messages)


def test_main_refuses_public_host_without_password(monkeypatch):
    monkeypatch.delenv("DESIGN_PASSWORD", raising=False)

    assert app_module.main(["--host", "0.0.0.0"]) == 2
    assert app_module.main(["--require-password"]) == 2


def test_create_app_needs_credentials_when_required(tmp_path):
    with pytest.raises(SettingsError, match="needs credentials"):
        create_app(Settings(cache_dir=tmp_path / "cache", require_password=True))


# Protected app --------------------------------------------------------------------


def test_protected_app_rejects_missing_or_wrong_credentials(protected_client):
    headers = [{}, basic_header("design", "wrong"), basic_header("nobody", PASSWORD), {"Authorization": "Bearer x"},
               {"Authorization": "Basic not-base64!"}, {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}]

    for header in headers:
        response = protected_client.get("/", headers=header)
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_protected_app_serves_with_credentials(protected_client):
    headers = basic_header("design", PASSWORD)

    assert protected_client.get("/", headers=headers).status_code == 200
    assert protected_client.get("/_dash-layout", headers=headers).status_code == 200
    assert protected_client.get("/_dash-layout").status_code == 401
    assert protected_client.get("/assets/style.css").status_code == 401


def test_unprotected_app_on_loopback(tmp_path):
    client = create_app(Settings(cache_dir=tmp_path / "cache", runs_dir=tmp_path / "runs")).server.test_client()

    assert client.get("/").status_code == 200


# Served app ------------------------------------------------------------------------


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_served_app_requires_password(tmp_path):
    port = free_port()
    log_path = tmp_path / "app.log"
    environment = dict(os.environ, DESIGN_PASSWORD=PASSWORD, DESIGN_CACHE_DIR=str(tmp_path / "cache"),
                       DESIGN_RUNS_DIR=str(tmp_path / "runs"))
    environment.pop("DESIGN_USER", None)
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port),
                                    "--require-password"], cwd=PROJECT_ROOT, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = http_status(url)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert status == 401, log_path.read_text()[-3000:]
        assert http_status(url, basic_header("design", "wrong")) == 401
        assert http_status(url, basic_header("design", PASSWORD)) == 200
        assert http_status(url + "_dash-layout", basic_header("design", PASSWORD)) == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    log_text = log_path.read_text()
    assert "password required: HTTP basic auth as user 'design'" in log_text
    assert PASSWORD not in log_text
