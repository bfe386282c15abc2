"""Tests of the cytoscape drawing of water graphs."""

from __future__ import annotations

import pytest

from dashboard.graph_view import (
    DEGREE_COLOURS,
    Highlight,
    degree_legend_entries,
    graph_elements,
    highlight_for_action,
    layout_positions,
    ring_membership,
    stylesheet,
)
from engine.graphs import WaterGraph

# Three waters in a ring plus a fourth hanging off water 2.
TRIANGLE_TAIL = WaterGraph(4, ((0, 1), (1, 2), (2, 0), (2, 3)))


def nodes(elements: list[dict]) -> dict[str, dict]:
    return {e["data"]["id"]: e for e in elements if "source" not in e["data"]}


def edges(elements: list[dict]) -> list[dict]:
    return [e for e in elements if "source" in e["data"]]


def test_elements_match_waters_and_bonds():
    elements = graph_elements(TRIANGLE_TAIL, layout_positions(TRIANGLE_TAIL))

    assert sorted(nodes(elements)) == ["w0", "w1", "w2", "w3"]
    assert len(edges(elements)) == 4


def test_edges_point_from_donor_to_acceptor():
    elements = graph_elements(TRIANGLE_TAIL, layout_positions(TRIANGLE_TAIL))

    pairs = sorted((e["data"]["source"], e["data"]["target"]) for e in edges(elements))
    assert pairs == [("w0", "w1"), ("w1", "w2"), ("w2", "w0"), ("w2", "w3")]
    arrows = [rule for rule in stylesheet() if rule["selector"] == "edge"]
    assert arrows[0]["style"]["target-arrow-shape"] == "triangle"


def test_nodes_carry_degree_class_and_ring_sizes():
    by_id = nodes(graph_elements(TRIANGLE_TAIL, layout_positions(TRIANGLE_TAIL)))

    assert by_id["w2"]["data"]["degree"] == 3
    assert "degree-3" in by_id["w2"]["classes"].split()
    assert "in-ring" in by_id["w0"]["classes"].split()
    assert "in-ring" not in by_id["w3"]["classes"].split()
    assert by_id["w0"]["data"]["label"] == "0 (3)"
    assert by_id["w3"]["data"]["label"] == "3"


def test_high_degree_shares_last_colour_class():
    star = WaterGraph(8, tuple((0, i) for i in range(1, 8)))
    by_id = nodes(graph_elements(star, layout_positions(star)))

    assert f"degree-{len(DEGREE_COLOURS) - 1}" in by_id["w0"]["classes"].split()
    assert degree_legend_entries()[-1][0] == f"{len(DEGREE_COLOURS) - 1}+"


def test_ring_membership_lists_every_ring_size():
    # A 4-ring 0-1-2-3 and a 3-ring 2-3-4 sharing the bond 2-3.
    graph = WaterGraph(5, ((0, 1), (1, 2), (2, 3), (3, 0), (3, 4), (4, 2)))

    assert ring_membership(graph) == {0: (4,), 1: (4,), 2: (3, 4), 3: (3, 4), 4: (3,)}


def test_ring_membership_of_tree_is_empty():
    assert ring_membership(WaterGraph(3, ((0, 1), (1, 2)))) == {}


def test_layout_is_deterministic():
    assert layout_positions(TRIANGLE_TAIL) == layout_positions(TRIANGLE_TAIL)


def test_positions_stable_across_steps():
    steps = [
        WaterGraph(3, ((0, 1), (1, 2))),
        WaterGraph(3, ((0, 1), (1, 2), (2, 0))),
        WaterGraph(4, ((0, 1), (1, 2), (2, 0), (2, 3))),
    ]
    positions = layout_positions(steps[-1])

    drawn = [nodes(graph_elements(graph, positions, placeholders=True)) for graph in steps]

    for water in range(3):
        places = {tuple(step[f"w{water}"]["position"].values()) for step in drawn}
        assert places == {positions[water]}


def test_placeholders_reserve_later_positions():
    positions = layout_positions(TRIANGLE_TAIL)
    first_step = WaterGraph(3, ((0, 1), (1, 2)))

    by_id = nodes(graph_elements(first_step, positions, placeholders=True))

    assert by_id["slot3"]["classes"] == "placeholder"
    assert (by_id["slot3"]["position"]["x"], by_id["slot3"]["position"]["y"]) == positions[3]
    assert "w3" not in by_id


def test_highlight_marks_new_water_and_bond():
    highlight = highlight_for_action(TRIANGLE_TAIL.n_waters, donor=2, acceptor=3, new_water=True)

    elements = graph_elements(TRIANGLE_TAIL, layout_positions(TRIANGLE_TAIL), highlight)

    assert highlight == Highlight(new_water=3, new_bond=(2, 3))
    assert "new-water" in nodes(elements)["w3"]["classes"].split()
    assert all("new-water" not in nodes(elements)[f"w{w}"]["classes"] for w in range(3))
    new_edges = [e for e in edges(elements) if "new-bond" in e["classes"].split()]
    assert [(e["data"]["source"], e["data"]["target"]) for e in new_edges] == [("w2", "w3")]


def test_highlight_of_bond_between_existing_waters():
    highlight = highlight_for_action(TRIANGLE_TAIL.n_waters, donor=2, acceptor=0, new_water=False)

    elements = graph_elements(TRIANGLE_TAIL, layout_positions(TRIANGLE_TAIL), highlight)

    assert highlight.new_water is None
    assert not any("new-water" in e["classes"] for e in nodes(elements).values())


def test_repeated_bonds_get_distinct_ids():
    graph = WaterGraph(2, ((0, 1), (0, 1)))

    ids = [e["data"]["id"] for e in edges(graph_elements(graph, layout_positions(graph)))]

    assert len(set(ids)) == 2


def test_missing_position_raises():
    with pytest.raises(ValueError, match="no position for waters"):
        graph_elements(TRIANGLE_TAIL, {0: (0.0, 0.0)})
