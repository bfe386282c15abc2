"""Tests of the dashboard settings: flag over environment over default."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dashboard.settings import DEFAULT_CACHE_DIR, DEFAULT_PRESETS_DIR, SettingsError, is_loopback, load_settings, log_settings
from engine.defaults import DEFAULT_DATASET


def test_defaults_without_flags_or_environment():
    settings = load_settings([], {})

    assert settings.host == "127.0.0.1"
    assert settings.port == 8050
    assert settings.cache_dir == DEFAULT_CACHE_DIR
    assert settings.presets_dir == DEFAULT_PRESETS_DIR
    assert settings.dataset == DEFAULT_DATASET
    assert settings.debug is False


def test_environment_overrides_defaults():
    environ = {"DESIGN_HOST": "localhost", "DESIGN_PORT": "9000", "DESIGN_CACHE_DIR": "/tmp/c", "DESIGN_DEBUG": "1"}

    settings = load_settings([], environ)

    assert settings.host == "localhost"
    assert settings.port == 9000
    assert settings.cache_dir == Path("/tmp/c")
    assert settings.debug is True


def test_presets_dir_from_environment_and_flag():
    environ = {"DESIGN_PRESETS_DIR": "/tmp/env-presets"}

    assert load_settings([], environ).presets_dir == Path("/tmp/env-presets")
    assert load_settings(["--presets-dir", "/tmp/flag-presets"], environ).presets_dir == Path("/tmp/flag-presets")


def test_flags_override_environment():
    settings = load_settings(["--host", "127.0.0.1", "--port", "9100"], {"DESIGN_HOST": "0.0.0.0", "DESIGN_PORT": "9000"})

    assert settings.host == "127.0.0.1"
    assert settings.port == 9100


def test_empty_environment_value_falls_back_to_default():
    assert load_settings([], {"DESIGN_PORT": ""}).port == 8050


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_invalid_port_names_setting(port):
    with pytest.raises(SettingsError, match=r"invalid setting port="):
        load_settings([], {"DESIGN_PORT": port})


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                             ("0.0.0.0", False), ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_log_warns_for_public_host(caplog):
    with caplog.at_level(logging.INFO, logger="dashboard.settings"):
        log_settings(load_settings(["--host", "0.0.0.0"], {}))

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "requires the password" in warnings[0].getMessage()


def test_log_lists_every_setting_without_warning_on_loopback(caplog):
    with caplog.at_level(logging.INFO, logger="dashboard.settings"):
        log_settings(load_settings([], {}))

    messages = [record.getMessage() for record in caplog.records]
    names = ("host", "port", "cache_dir", "presets_dir", "dataset", "runs_dir", "require_password", "debug")
    assert [m.split(" = ")[0] for m in messages] == [f"setting {n}" for n in names]
    assert all(record.levelno == logging.INFO for record in caplog.records)
