"""Tests of the pure helpers of the Pathways and Data pages and of value formatting."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.formatting import format_histogram, format_value
from dashboard.pages import data, pathways
from dashboard.sources import TABLE_COLUMNS, dataset_table, pathway_positions, pathways_file
from engine.descriptors import describe
from engine.pathways import result_to_dict, write_pathways
from engine.reward import DEFAULT_WEIGHTS
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search

TRIMER_AND_DIMER = """9
energy=-15.5 n_waters=3
O 0.000 0.000 0.000
H 0.957 0.000 0.000
H -0.240 0.927 0.000
O 2.910 0.000 0.000
H 3.496 0.000 0.757
H 3.496 0.000 -0.757
O 10.000 0.000 0.000
H 10.957 0.000 0.000
H 9.760 0.927 0.000
6
energy=-5.0 n_waters=2
O 0.0 0.0 0.0
H 0.9572 0.0 0.0
H -0.2396 0.9267 0.0
O 2.91 0.0 0.0
H 3.496 0.0 0.757
H 3.496 0.0 -0.757
"""


@pytest.fixture(scope="module")
def pathways_path(tmp_path_factory) -> Path:
    target = Target(7)
    limits = Limits(max_results=2, max_expansions=200, max_seconds=20)
    model = RewardLookahead(DEFAULT_WEIGHTS)
    result = search(cyclic_pentamer(), target, 2, model, DEFAULT_WEIGHTS, limits)
    path = tmp_path_factory.mktemp("pathways") / "run.json"
    write_pathways(result_to_dict(result, "pentamer", target, 2, model.name, DEFAULT_WEIGHTS, limits), path)
    return path


@pytest.mark.parametrize(
    "value, text",
    [(None, "n/a"), (True, "yes"), (False, "no"), (3, "3"), (1.4, "1.400"), (2.0, "2.000"),
     (-0.0001, "0.000"), (-1.23456, "-1.235")],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_format_histogram_skips_empty_degrees():
    assert format_histogram([0, 1, 0, 3]) == "1: 1, 3: 3"
    assert format_histogram([]) == "n/a"


@pytest.mark.parametrize(
    "trigger, step, playing, expected",
    [
        ("pathways-next", 2, False, (3, False)),
        ("pathways-next", 5, False, (5, False)),
        ("pathways-prev", 0, False, (0, False)),
        ("pathways-prev", 3, True, (2, False)),
        ("pathways-play", 2, False, (2, True)),
        ("pathways-play", 5, False, (0, True)),
        ("pathways-play", 2, True, (2, False)),
        ("pathways-play-interval", 3, True, (4, True)),
        ("pathways-play-interval", 4, True, (5, False)),
        ("pathways-play-interval", 3, False, (3, False)),
        ("pathways-picker", 4, True, (0, False)),
        (None, 4, False, (0, False)),
    ],
)
def test_next_step(trigger, step, playing, expected):
    assert pathways.next_step(trigger, step, 5, playing) == expected


def test_annotation_values_match_descriptors_of_step_graph(pathways_path):
    loaded = pathways_file(pathways_path)
    graphs = loaded.water_graphs(0)

    for record, graph in zip(loaded.pathways[0].steps, graphs):
        described = describe(graph).as_dict()
        texts = dict(zip([field for field, _, _ in pathways.ANNOTATIONS], pathways.annotation_values(record)))
        for field, _, _ in pathways.ANNOTATIONS:
            expected = record.reward if field == "reward" else described[field]
            assert texts[field] == format_value(expected), (record.step, field)


def test_annotation_ids_are_unique_and_namespaced():
    ids = [component_id for _, _, component_id in pathways.ANNOTATIONS]

    assert len(set(ids)) == len(ids)
    assert all(component_id.startswith("pathways-") for component_id in ids)


def test_step_highlight_follows_action(pathways_path):
    steps = pathways_file(pathways_path).pathways[0].steps
    first_new = next(record for record in steps if record.action and record.action.new_water)

    assert pathways.step_highlight(steps[0]).new_bond is None
    highlight = pathways.step_highlight(first_new)
    assert highlight.new_water == first_new.n_waters - 1
    assert highlight.new_bond == (first_new.action.donor, first_new.action.acceptor)
    assert "Added water" in pathways.action_text(first_new)
    assert pathways.action_text(steps[0]).startswith("Start graph")


def test_pathway_positions_cover_every_step(pathways_path):
    positions = pathway_positions(pathways_path, 0)
    graphs = pathways_file(pathways_path).water_graphs(0)

    assert set(positions) == set(range(graphs[-1].n_waters))
    assert pathway_positions(pathways_path, 0) == positions


def test_pathway_options_label_rank_reward_steps(pathways_path):
    loaded = pathways_file(pathways_path)

    options = pathways.pathway_options(loaded)

    assert [option["value"] for option in options] == list(range(len(loaded.pathways)))
    first = loaded.pathways[0]
    assert options[0]["label"] == f"#0: final reward {format_value(first.final_reward)}, {len(first.steps)} steps"


def test_reward_figure_marks_current_step(pathways_path):
    steps = pathways_file(pathways_path).pathways[0].steps

    figure = pathways.reward_figure(steps, 2)

    assert list(figure.data[0].y) == [record.reward for record in steps]
    assert list(figure.data[1].x) == [2]


def test_alternatives_table_marks_chosen(pathways_path):
    steps = pathways_file(pathways_path).pathways[0].steps

    table = pathways.alternatives_table(steps[1])
    rows = table.children[1].children

    assert len(rows) == len(steps[1].alternatives)
    assert sum(row.className == "chosen-row" for row in rows) == 1


def test_table_rows_and_size_filter(tmp_path):
    path = tmp_path / "mixed.extxyz"
    path.write_text(TRIMER_AND_DIMER)
    table = dataset_table(path)

    all_rows = data.table_rows(table, None)
    dimers = data.table_rows(table, 2)

    assert [row["n_waters"] for row in all_rows] == [3, 2]
    assert [row["frame"] for row in dimers] == [1]
    assert set(all_rows[0]) == {"row_id", *TABLE_COLUMNS}
    assert all_rows[0]["connected"] is False
    assert all_rows[0]["diameter"] is None
    assert data.size_options(table) == [{"label": "2 waters (1)", "value": 2}, {"label": "3 waters (1)", "value": 3}]


def test_dataset_table_is_cached_until_file_changes(tmp_path):
    path = tmp_path / "mixed.extxyz"
    path.write_text(TRIMER_AND_DIMER)

    first = dataset_table(path)
    assert dataset_table(path) is first
    path.write_text(TRIMER_AND_DIMER.split("6\n")[0])
    assert len(dataset_table(path).rows) == 1


def test_column_defs_cover_table_columns():
    assert [column["field"] for column in data.column_defs()] == list(TABLE_COLUMNS)
