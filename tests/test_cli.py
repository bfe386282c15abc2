"""``python -m engine``: describe and search, run as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.pathways import load_pathways
from engine.reward import DEFAULT_WEIGHTS
from engine.search import cyclic_pentamer
from tests.engine_fixtures import first_records, minima_path

ROOT = Path(__file__).resolve().parents[1]
DESCRIBE_KEYS = {
    "source", "frame", "energy", "n_waters", "n_hbonds", "degree_mean", "degree_variance", "degree_histogram",
    "rings_3", "rings_4", "rings_5", "rings_6", "connected", "diameter", "aspl", "wiener_index",
    "reward", "reward_components",
}


def run_engine(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m engine ARGS`` from the project root with the default log level."""
    env = {key: value for key, value in os.environ.items() if key != "DESIGN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "engine", *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def assert_one_line_error(process: subprocess.CompletedProcess, *fragments: str) -> None:
    """Assert exit status 2, nothing on stdout and one ``error: ...`` line on stderr containing ``fragments``."""
    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# --- describe --------------------------------------------------------------------------------


def test_describe_minimum():
    path = minima_path(5)
    process = run_engine("describe", path)
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert set(record) == DESCRIBE_KEYS
    assert record["source"] == str(path)
    assert record["frame"] == 0
    assert record["energy"] == -36.8050499
    assert record["n_waters"] == 5
    assert record["rings_5"] == 1
    assert record["aspl"] == 1.5
    assert record["wiener_index"] == 15
    assert record["reward"] == 2.0
    assert set(record["reward_components"]) == set(DEFAULT_WEIGHTS.weights)


def test_describe_key_order():
    process = run_engine("describe", minima_path(4))
    keys = list(json.loads(process.stdout))
    assert keys[:3] == ["source", "frame", "energy"]
    assert keys[-2:] == ["reward", "reward_components"]


def test_describe_several_files():
    process = run_engine("describe", minima_path(5), minima_path(6))
    records = [json.loads(line) for line in process.stdout.splitlines()]
    assert process.returncode == 0, process.stderr
    assert [r["n_waters"] for r in records] == [5, 6]
    assert [r["rings_4"] for r in records] == [0, 5]


def test_describe_tfrecord(tmp_path):
    path = tmp_path / "three.tfrecord"
    path.write_bytes(b"".join(first_records(3)))
    process = run_engine("describe", path)
    records = [json.loads(line) for line in process.stdout.splitlines()]
    assert process.returncode == 0, process.stderr
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert all(set(r) == DESCRIBE_KEYS for r in records)
    assert all(isinstance(r["energy"], float) for r in records)


def test_describe_with_weights(tmp_path):
    weights = tmp_path / "rings.json"
    weights.write_text('{"weights": {"rings_4": 2.0}}')
    process = run_engine("describe", "--weights", weights, minima_path(6))
    record = json.loads(process.stdout)
    assert record["reward_components"] == {"rings_4": 10.0}
    assert record["reward"] == 10.0


def test_describe_bad_file(tmp_path):
    path = tmp_path / "broken.xyz"
    path.write_text("6\n-1.0\nO 0 0 0\n")
    process = run_engine("describe", path)
    assert_one_line_error(process, str(path), "frame 0", "truncated frame")


def test_describe_missing_file(tmp_path):
    path = tmp_path / "absent.xyz"
    assert_one_line_error(run_engine("describe", path), str(path), "not found")


def test_describe_unknown_suffix(tmp_path):
    path = tmp_path / "cluster.pdb"
    path.write_text("ATOM\n")
    assert_one_line_error(run_engine("describe", path), str(path), "unknown file type")


def test_describe_unknown_weight(tmp_path):
    weights = tmp_path / "bad.json"
    weights.write_text('{"rings_9": 1.0}')
    assert_one_line_error(run_engine("describe", "--weights", weights, minima_path(5)), "rings_9")


# --- search ------------------------------------------------------------------------------------


def test_search_writes_pathways(tmp_path):
    out = tmp_path / "tmp.json"
    process = run_engine("search", "--start", "pentamer", "--target-size", "7", "--branching", "2", "--out", out)
    assert process.returncode == 0, process.stderr
    loaded = load_pathways(out)
    assert loaded.pathways
    assert loaded.parameters["start"] == "pentamer"
    assert loaded.parameters["target_size"] == 7
    assert loaded.parameters["branching"] == 2
    assert all(loaded.water_graphs(i)[0] == cyclic_pentamer() for i in range(len(loaded.pathways)))
    assert all(loaded.water_graphs(i)[-1].n_waters == 7 for i in range(len(loaded.pathways)))


def test_search_from_file(tmp_path):
    out = tmp_path / "from_file.json"
    start = minima_path(4)
    process = run_engine("search", "--start", start, "--target-size", "5", "--max-results", "2", "--out", out)
    assert process.returncode == 0, process.stderr
    loaded = load_pathways(out)
    assert loaded.parameters["start"] == f"{start}#0"
    assert loaded.water_graphs(0)[0].n_waters == 4


def test_search_branching_zero(tmp_path):
    out = tmp_path / "never.json"
    process = run_engine("search", "--target-size", "7", "--branching", "0", "--out", out)
    assert_one_line_error(process, "branching factor must be at least 1, got 0")
    assert not out.exists()


def test_search_target_too_small(tmp_path):
    out = tmp_path / "never.json"
    process = run_engine("search", "--target-size", "3", "--out", out)
    assert_one_line_error(process, "target size 3 is below the start graph's 5 waters")
    assert not out.exists()


def test_search_unknown_weight(tmp_path):
    weights = tmp_path / "bad.json"
    weights.write_text('{"weights": {"bonds": 1.0}}')
    process = run_engine("search", "--target-size", "7", "--weights", weights, "--out", tmp_path / "never.json")
    assert_one_line_error(process, str(weights), "unknown reward component 'bonds'")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-results", "0", "--max-results must be at least 1"),
        ("--max-expansions", "0", "--max-expansions must be at least 1"),
        ("--max-seconds", "0", "--max-seconds must be positive"),
        ("--frame", "-1", "frame must be >= 0"),
    ],
)
def test_search_bad_limits(tmp_path, option, value, message):
    process = run_engine("search", "--target-size", "7", option, value, "--start", minima_path(5), "--out", tmp_path / "x.json")
    assert_one_line_error(process, message)


def test_search_missing_frame(tmp_path):
    start = minima_path(5)
    process = run_engine("search", "--start", start, "--frame", "3", "--target-size", "7", "--out", tmp_path / "x.json")
    assert_one_line_error(process, str(start), "has no frame 3")
