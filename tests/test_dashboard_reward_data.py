"""Tests of the Reward page's datasets, component tables, charts and of re-scoring a pathway."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from app import create_app
from dashboard.context import DashboardContext
from dashboard.pages import pathways
from dashboard.reward_data import (
    ComponentTables,
    check_cluster_file,
    compute_into_cache,
    resolve_source,
    server_path,
    server_path_source,
    upload_source,
    water_graphs,
)
from dashboard.reward_views import agreement_table, breakdown_figure, reward_histogram, scatter_figure, spearman_figure
from dashboard.settings import PROJECT_ROOT, Settings
from dashboard.sources import pathways_file
from engine.agreement import agreement_by_size
from engine.components import ComponentTable, compute_table
from engine.errors import ClusterFormatError, InputError
from engine.io import read_clusters
from engine.pathways import result_to_dict, write_pathways
from engine.reward import DEFAULT_WEIGHTS, RewardWeights
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search

DIMER = """6
{comment}
O 0.0 0.0 0.0
H 0.9572 0.0 0.0
H -0.2396 0.9267 0.0
O 2.91 0.0 0.0
H 3.496 0.0 0.757
H 3.496 0.0 -0.757
"""
TRIMER = """9
{comment}
O 0.000 0.000 0.000
H 0.957 0.000 0.000
H -0.240 0.927 0.000
O 2.910 0.000 0.000
H 3.496 0.000 0.757
H 3.496 0.000 -0.757
O 10.000 0.000 0.000
H 10.957 0.000 0.000
H 9.760 0.927 0.000
"""


def mixed_dataset(energies: bool = True) -> str:
    """Return an extxyz text of two trimers and one dimer, with or without energies."""
    comments = ["energy=-15.5", "energy=-14.0", "energy=-5.0"] if energies else ["", "", ""]
    return TRIMER.format(comment=comments[0]) + TRIMER.format(comment=comments[1]) + DIMER.format(comment=comments[2])


def data_url(text: str) -> str:
    return "data:chemical/x-xyz;base64," + base64.b64encode(text.encode()).decode()


@pytest.fixture
def context(tmp_path) -> DashboardContext:
    return DashboardContext(Settings(cache_dir=tmp_path / "cache", presets_dir=tmp_path / "presets"))


@pytest.fixture
def mixed_path(tmp_path) -> Path:
    path = tmp_path / "mixed.extxyz"
    path.write_text(mixed_dataset())
    return path


@pytest.fixture(scope="module")
def default_table() -> ComponentTable:
    return compute_table(list(read_clusters(Settings().dataset)))


# Dataset choice ---------------------------------------------------------------


def test_check_cluster_file_problems(tmp_path):
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    unknown = tmp_path / "clusters.csv"
    unknown.write_text("x")

    with pytest.raises(ClusterFormatError, match="file not found"):
        check_cluster_file(tmp_path / "missing.xyz", "missing.xyz")
    with pytest.raises(ClusterFormatError, match="not a file"):
        check_cluster_file(tmp_path, "folder")
    with pytest.raises(ClusterFormatError, match="the file is empty"):
        check_cluster_file(empty, "empty.xyz")
    with pytest.raises(ClusterFormatError, match="unknown file type"):
        check_cluster_file(unknown, "clusters.csv")


def test_server_path_relative_to_project_root():
    assert server_path("engine/data/default_clusters.extxyz") == PROJECT_ROOT / "engine" / "data" / "default_clusters.extxyz"
    with pytest.raises(InputError, match="type the path"):
        server_path("  ")


def test_server_path_source_validates(mixed_path, tmp_path):
    source = server_path_source(str(mixed_path))

    assert source == {"kind": "path", "path": str(mixed_path.resolve())}
    with pytest.raises(ClusterFormatError, match="file not found"):
        server_path_source(str(tmp_path / "nothing.xyz"))


def test_upload_source_stores_valid_and_deletes_invalid(context):
    source = upload_source(data_url(mixed_dataset()), "mine.extxyz", context.uploads_dir)
    bad = DIMER.format(comment="").replace("O 2.91", "C 2.91")

    assert source["kind"] == "upload"
    assert source["name"] == "mine.extxyz"
    assert len(list(context.uploads_dir.iterdir())) == 1
    with pytest.raises(ClusterFormatError, match=r"carbon\.xyz, frame 0.*only O and H"):
        upload_source(data_url(bad), "carbon.xyz", context.uploads_dir)
    assert len(list(context.uploads_dir.iterdir())) == 1
    with pytest.raises(InputError, match="unsupported file type"):
        upload_source(data_url(bad), "carbon.pdb", context.uploads_dir)


def test_resolve_source_forms(context, mixed_path):
    default = resolve_source(None, context)
    uploaded = resolve_source(upload_source(data_url(mixed_dataset()), "up.extxyz", context.uploads_dir), context)
    typed = resolve_source(server_path_source(str(mixed_path)), context)

    assert default.path == context.settings.dataset
    assert default.origin == "Dataset"
    assert uploaded.origin == "Uploaded file"
    assert uploaded.name == "up.extxyz"
    assert typed.path == mixed_path.resolve()
    assert typed.origin == "File on the server"


@pytest.mark.parametrize(
    "source, problem",
    [
        ("text", "invalid dataset choice"),
        ({"kind": "other"}, "invalid dataset choice"),
        ({"kind": "upload", "digest": "../../etc", "suffix": ".xyz"}, "invalid stored upload reference"),
        ({"kind": "upload", "digest": "a" * 64, "suffix": ".xyz", "name": "old.xyz"}, "no longer on the server"),
        ({"kind": "path", "path": "/nonexistent/clusters.xyz"}, "file not found"),
    ],
)
def test_resolve_source_rejects(context, source, problem):
    with pytest.raises(InputError, match=problem):
        resolve_source(source, context)


# Component tables -------------------------------------------------------------


def test_compute_into_cache_then_load_holds_table(context, mixed_path):
    dataset = resolve_source(server_path_source(str(mixed_path)), context)
    tables = ComponentTables(context.settings.cache_dir / "components")
    reports = []

    count = compute_into_cache(tables.cache_dir, dataset, lambda done, total: reports.append((done, total)))

    assert count == 3
    assert reports == [(3, 3)]
    assert tables.in_memory(dataset) is None
    table = tables.load(dataset)
    assert tables.in_memory(dataset) is table
    assert list(table.n_waters) == [3, 3, 2]


def test_table_in_memory_follows_file_changes(context, mixed_path):
    dataset = resolve_source(server_path_source(str(mixed_path)), context)
    tables = ComponentTables(context.settings.cache_dir / "components")
    tables.load(dataset)

    mixed_path.write_text(DIMER.format(comment="energy=-5.0"))

    assert tables.in_memory(dataset) is None
    assert len(tables.load(dataset)) == 1


def test_compute_into_cache_rejects_empty_file(context, tmp_path):
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    dataset = resolve_source({"kind": "path", "path": str(empty)}, context)

    with pytest.raises(ClusterFormatError, match="the file is empty"):
        compute_into_cache(context.settings.cache_dir / "components", dataset)


def test_water_graphs_in_file_order(mixed_path):
    graphs = water_graphs(mixed_path)

    assert [graph.n_waters for graph in graphs] == [3, 3, 2]
    assert graphs[2].hbonds == ((0, 1),)


# Charts and tables -------------------------------------------------------------


def test_agreement_table_cells_carry_size(default_table):
    agreement = agreement_by_size(default_table.rewards(DEFAULT_WEIGHTS), default_table.energies, default_table.n_waters, 10)

    table = agreement_table(agreement)
    rows = table.children[1].children

    assert len(rows) == len(agreement)
    cell = rows[0].children[2]
    assert cell.id == f"reward-spearman-{agreement[0].n_waters}"
    assert getattr(cell, "data-size") == str(agreement[0].n_waters)
    assert cell.children == f"{agreement[0].spearman:.3f}"


def test_scatter_points_carry_table_rows(default_table):
    rewards = default_table.rewards(DEFAULT_WEIGHTS)

    figure = scatter_figure(default_table, rewards, 5, selected=None)

    points = np.asarray(figure.data[0].customdata, dtype=int)
    rows = points[:, 0]
    assert len(rows) == int(np.count_nonzero(default_table.n_waters == 5))
    assert set(default_table.n_waters[rows]) == {5}
    np.testing.assert_array_equal(points[:, 1], default_table.frames[rows])
    np.testing.assert_array_equal(points[:, 2], 5)
    np.testing.assert_array_equal(figure.data[0].x, rewards[rows])


def test_scatter_marks_selected_cluster(default_table):
    rewards = default_table.rewards(DEFAULT_WEIGHTS)
    selected = int(np.flatnonzero(default_table.n_waters == 4)[0])

    figure = scatter_figure(default_table, rewards, None, selected)

    assert len(figure.data) == 2
    assert list(figure.data[1].customdata[0]) == [selected, default_table.frames[selected], 4]


def test_charts_without_energies(tmp_path):
    path = tmp_path / "plain.extxyz"
    path.write_text(mixed_dataset(energies=False))
    table = compute_table(list(read_clusters(path)))
    rewards = table.rewards(DEFAULT_WEIGHTS)

    histogram = reward_histogram(table, rewards, None)
    scatter = scatter_figure(table, rewards, None, None)

    assert list(histogram.data[0].x) == list(rewards)
    assert scatter.data == ()
    assert "No cluster of this size has an energy" in scatter.layout.annotations[0].text


def test_spearman_figure_labels_missing_rho():
    rewards = np.array([1.0, 2.0, 3.0, 0.5, 0.7])
    energies = np.array([-1.0, -2.0, -3.0, -10.0, -11.0])
    sizes = np.array([3, 3, 3, 4, 4])

    figure = spearman_figure(agreement_by_size(rewards, energies, sizes, 2))

    assert list(figure.data[0].text) == ["1.000", "n/a"]


def test_breakdown_figure_marks_absent_components(tmp_path):
    path = tmp_path / "mixed.extxyz"
    path.write_text(mixed_dataset())
    table = compute_table(list(read_clusters(path)))
    weights = RewardWeights({"degree": 1.0, "aspl": 2.0})

    figure = breakdown_figure(table.breakdown(0, weights), table.absent(0))

    labels = list(figure.data[0].y)
    assert any(label.startswith("aspl (absent)") for label in labels)
    assert len(labels) == 2


# Pathways re-scoring -----------------------------------------------------------


@pytest.fixture(scope="module")
def pathways_path(tmp_path_factory) -> Path:
    target = Target(7)
    limits = Limits(max_results=1, max_expansions=100, max_seconds=20)
    model = RewardLookahead(DEFAULT_WEIGHTS)
    result = search(cyclic_pentamer(), target, 2, model, DEFAULT_WEIGHTS, limits)
    path = tmp_path_factory.mktemp("pathways") / "run.json"
    write_pathways(result_to_dict(result, "pentamer", target, 2, model.name, DEFAULT_WEIGHTS, limits), path)
    return path


def test_rescore_with_search_weights_matches_stored_reward(pathways_path):
    loaded = pathways_file(pathways_path)

    rescored = pathways.rescore_steps(loaded.water_graphs(0), DEFAULT_WEIGHTS)

    steps = loaded.pathways[0].steps
    assert [b.total for b in rescored] == pytest.approx([record.reward for record in steps], abs=1e-9)
    for breakdown, record in zip(rescored, steps):
        assert breakdown.components == pytest.approx(record.reward_components, abs=1e-9)


def test_rescore_with_other_weights_adds_chart_line(pathways_path):
    loaded = pathways_file(pathways_path)
    steps = loaded.pathways[0].steps
    weights = RewardWeights({"rings_4": 1.0, "n_hbonds": 0.5})

    rescored = [breakdown.total for breakdown in pathways.rescore_steps(loaded.water_graphs(0), weights)]
    figure = pathways.reward_figure(steps, 0, rescored)

    expected = [record.rings_4 + 0.5 * record.n_hbonds for record in steps]
    assert rescored == pytest.approx(expected)
    assert [trace.name for trace in figure.data] == ["stored reward", "re-scored", "current step"]
    assert list(figure.data[1].y) == pytest.approx(expected)


def test_breakdown_tables_show_rescored_first(pathways_path):
    loaded = pathways_file(pathways_path)
    record = loaded.pathways[0].steps[1]
    weights = RewardWeights({"rings_4": 1.0, "n_hbonds": 0.5})
    rescored = pathways.rescore_steps(loaded.water_graphs(0), weights)[1]

    assert pathways.breakdown_tables(record, None).to_plotly_json()["type"] == "Table"
    both = pathways.breakdown_tables(record, rescored)
    headings = [child.children for child in both.children if getattr(child, "children", None) and isinstance(child.children, str)]
    assert headings == ["Re-scored with the Reward page's weights", "Stored in the pathways file"]
    rescored_rows = both.children[1].children[1].children
    assert [row.children[0].children for row in rescored_rows[:-1]] == sorted(
        rescored.components, key=lambda name: (-abs(rescored.components[name]), name)
    )


# App wiring ------------------------------------------------------------------


def test_app_registers_reward_callbacks(tmp_path):
    app = create_app(Settings(cache_dir=tmp_path / "cache", dataset=tmp_path / "missing.extxyz"))

    outputs = " ".join(app.callback_map)

    for component_id in ("reward-weights", "reward-scatter", "reward-agreement-table", "reward-job-result",
                         "reward-fit", "pathways-rescore-note"):
        assert component_id in outputs
    layout = app.server.test_client().get("/_dash-layout")
    assert b"reward-weights" in layout.data
