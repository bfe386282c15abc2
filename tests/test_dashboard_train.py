"""Tests of the Train page helpers: configs, the training spec and the test result charts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dashboard.job_charts import mae_by_size_figure, parity_figure, summary_rows
from dashboard.job_forms import config_files, config_key_values, edited_config, parse_decimal, train_spec
from dashboard.pages import train
from engine.defaults import DEFAULT_DATASET
from engine.errors import InputError
from jobs.spec import parse_spec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = PROJECT_ROOT / "configs" / "surrogate-tiny.yaml"
#: A test report with the keys that engine.surrogate.evaluation writes, for two sizes and two clusters.
REPORT = {
    "n_train": 8,
    "n_test": 2,
    "units": "kcal/mol",
    "overall": {
        "model": {"n": 2, "mae": 1.5, "rmse": 1.6},
        "per_size_mean": {"n": 2, "mae": 3.0, "rmse": 3.1},
        "linear_descriptors": {"n": 2, "mae": 2.0, "rmse": 2.2},
    },
    "per_size": [
        {"n_waters": 3, "n_test": 1, "n_train": 4, "mean_absolute_deviation": 0.0, "model": {"n": 1, "mae": 1.0, "rmse": 1.0},
         "per_size_mean": {"n": 1, "mae": 2.0, "rmse": 2.0}, "linear_descriptors": {"n": 1, "mae": 1.5, "rmse": 1.5}},
        {"n_waters": 4, "n_test": 1, "n_train": 4, "mean_absolute_deviation": 0.0, "model": {"n": 1, "mae": 2.0, "rmse": 2.0},
         "per_size_mean": {"n": 1, "mae": 4.0, "rmse": 4.0}, "linear_descriptors": {"n": 1, "mae": 2.5, "rmse": 2.5}},
    ],
    "parity": [
        {"frame": 7, "n_waters": 3, "energy": -16.0, "predicted": -15.0, "per_size_mean": -14.0, "linear_descriptors": -15.5},
        {"frame": 9, "n_waters": 4, "energy": -25.0, "predicted": -27.0, "per_size_mean": -21.0, "linear_descriptors": -22.5},
    ],
}


def require_tiny_config() -> Path:
    if not TINY_CONFIG.is_file():
        pytest.skip(f"{TINY_CONFIG} does not exist yet")
    return TINY_CONFIG


# Configs --------------------------------------------------------------------


def test_config_options_list_surrogate_configs():
    options = train.config_options()

    assert [option["label"] for option in options] == [path.name for path in config_files(train.CONFIGS_DIR)]
    assert all(option["label"].startswith("surrogate") for option in options)
    assert train.default_config(options) in (None, "surrogate.yaml", options[0]["value"] if options else None)


def test_config_path_accepts_only_listed_names():
    require_tiny_config()

    assert train.config_path("surrogate-tiny.yaml") == TINY_CONFIG
    for name in ("../requirements.txt", "/etc/passwd", "policy.yaml", None):
        with pytest.raises(InputError, match="unknown config"):
            train.config_path(name)


def test_config_key_values_of_tiny_config():
    values = config_key_values(require_tiny_config())

    assert values == {"epochs": 3, "batch_size": 16, "learning_rate": 3.0e-3}


def test_edited_config_unchanged_returns_original(tmp_path):
    path = require_tiny_config()

    assert edited_config(path, {"epochs": 3, "batch_size": 16, "learning_rate": "0.003"}, tmp_path) == path
    assert edited_config(path, {"epochs": None, "batch_size": "", "learning_rate": None}, tmp_path) == path
    assert list(tmp_path.iterdir()) == []


def test_edited_config_writes_validated_copy(tmp_path):
    path = require_tiny_config()

    edited = edited_config(path, {"epochs": 2, "batch_size": 8.0, "learning_rate": "1e-3"}, tmp_path)
    again = edited_config(path, {"epochs": 2, "batch_size": 8, "learning_rate": 0.001}, tmp_path)

    data = yaml.safe_load(edited.read_text())
    assert edited.parent == tmp_path
    assert edited.name.startswith("surrogate-tiny-")
    assert again == edited
    assert data["training"]["epochs"] == 2
    assert data["data"]["batch_size"] == 8
    assert data["training"]["learning_rate"] == 0.001
    assert data["model"] == yaml.safe_load(path.read_text())["model"]


@pytest.mark.parametrize("values, message", [
    ({"epochs": 0}, "epochs"),
    ({"batch_size": -4}, "batch_size"),
    ({"learning_rate": "fast"}, "invalid learning rate 'fast'"),
    ({"learning_rate": "-1"}, "learning_rate"),
])
def test_edited_config_rejects_invalid_values(tmp_path, values, message):
    with pytest.raises(InputError, match=message):
        edited_config(require_tiny_config(), values, tmp_path)


def test_parse_decimal():
    assert parse_decimal("3e-3", "learning rate") == 0.003
    assert parse_decimal(0.5, "learning rate") == 0.5
    with pytest.raises(InputError, match="invalid learning rate"):
        parse_decimal("x", "learning rate")


# Spec -----------------------------------------------------------------------


def test_train_spec_is_valid_for_the_job_layer():
    spec = train_spec(DEFAULT_DATASET, require_tiny_config(), {"cpus_per_task": 1})

    parsed = parse_spec(spec)

    assert parsed.kind.name == "train-surrogate"
    assert parsed.params.data == str(DEFAULT_DATASET.resolve())
    assert parsed.params.config == str(TINY_CONFIG.resolve())
    assert parsed.resources.cpus_per_task == 1


def test_train_spec_without_config():
    assert train_spec(DEFAULT_DATASET, None, {}) == {
        "kind": "train-surrogate", "params": {"data": str(DEFAULT_DATASET)}, "resources": {}}


def test_selected_model_text():
    assert train.selected_model_text(None) == train.NO_MODEL
    assert train.selected_model_text({"job_id": "j", "path": "/runs/j/artifacts/model"}) == "Model of job j: /runs/j/artifacts/model"


# Result charts --------------------------------------------------------------------


def test_parity_figure_shows_model_and_hides_baselines():
    figure = parity_figure(REPORT, uirevision="job")

    names = [trace.name for trace in figure.data]
    assert names == ["Surrogate", "Per-size mean baseline", "Linear-descriptor baseline", "true = predicted"]
    assert list(figure.data[0].x) == [-16.0, -25.0]
    assert list(figure.data[0].y) == [-15.0, -27.0]
    assert figure.data[0].visible is True
    assert figure.data[1].visible == "legendonly"
    assert list(figure.data[3].x) == [-25.0, -16.0]


def test_mae_by_size_figure_groups_predictors():
    figure = mae_by_size_figure(REPORT)

    assert [trace.name for trace in figure.data] == ["Surrogate", "Per-size mean baseline", "Linear-descriptor baseline"]
    assert list(figure.data[0].x) == ["3", "4"]
    assert list(figure.data[0].y) == [1.0, 2.0]
    assert list(figure.data[1].y) == [2.0, 4.0]


def test_mae_by_size_without_linear_baseline():
    report = {"per_size": [{"n_waters": 3, "model": {"mae": 1.0}, "per_size_mean": {"mae": 2.0}}]}

    assert [trace.name for trace in mae_by_size_figure(report).data] == ["Surrogate", "Per-size mean baseline"]


def test_empty_report_gives_message_charts():
    assert parity_figure({}).layout.annotations[0].text == "The test report has no parity data."
    assert mae_by_size_figure({}).layout.annotations[0].text == "The test report has no per-size errors."


def test_summary_rows_labels():
    rows = dict(summary_rows(REPORT))

    assert rows["Test clusters"] == 2
    assert rows["Surrogate: MAE (kcal/mol)"] == 1.5
    assert rows["Linear-descriptor baseline: RMSE (kcal/mol)"] == 2.2
