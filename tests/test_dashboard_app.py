"""Tests that the app factory builds a servable app without computing anything."""

from __future__ import annotations

from app import create_app
from dashboard.settings import Settings


def test_create_app_serves_layout(tmp_path):
    settings = Settings(cache_dir=tmp_path / "cache", dataset=tmp_path / "missing.extxyz")
    client = create_app(settings).server.test_client()

    index = client.get("/")
    layout = client.get("/_dash-layout")

    assert index.status_code == 200
    assert layout.status_code == 200
    assert b"page-content" in layout.data
    # Only the background-job cache exists; no table or pathways were computed.
    assert [path.name for path in (tmp_path / "cache").iterdir()] == ["background"]


def test_create_app_registers_page_callbacks(tmp_path):
    app = create_app(Settings(cache_dir=tmp_path / "cache", dataset=tmp_path / "missing.extxyz"))

    outputs = " ".join(app.callback_map)

    for component_id in ("page-content", "pathways-graph", "pathways-step-slider", "data-grid", "data-upload-error",
                         "reward-scatter"):
        assert component_id in outputs
