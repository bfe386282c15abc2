"""SEARCH from the cyclic pentamer: pathway structure, limits, determinism, input checks and actions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from engine.descriptors import describe
from engine.errors import InputError
from engine.graphs import WaterGraph, same_network
from engine.reward import DEFAULT_WEIGHTS, RewardWeights, evaluation_count, score
from engine.search import (
    Action,
    Limits,
    RewardLookahead,
    Target,
    cyclic_pentamer,
    search,
    valid_actions,
)
from tests.engine_fixtures import random_valid_graph

BRANCHING = 3
TARGET_SIZE = 10
#: Enough results to exercise deduplication and ranking in about a second.
N_RESULTS = 5


@pytest.fixture(scope="module")
def pentamer_result():
    """Grow the cyclic pentamer to 10 waters with b = 3 and the default reward."""
    return search(
        cyclic_pentamer(), Target(TARGET_SIZE), BRANCHING, RewardLookahead(), DEFAULT_WEIGHTS, Limits(max_results=N_RESULTS)
    )


def pathway_summary(pathway) -> list:
    """Everything that defines a pathway, without wall times."""
    return [
        (step.graph, step.action, [(a.action, a.score) for a in step.alternatives], step.new_water, step.reward.total)
        for step in pathway
    ]


# --- the pentamer search ---------------------------------------------------------------


def test_pentamer_pathway_count(pentamer_result):
    assert len(pentamer_result.pathways) == N_RESULTS
    assert pentamer_result.stopped_by == "max_results"
    assert pentamer_result.expansions > 0
    assert pentamer_result.reward_evaluations > 0


def test_pathways_start_with_pentamer(pentamer_result):
    for pathway in pentamer_result.pathways:
        assert pathway[0].graph == cyclic_pentamer()
        assert pathway[0].action is None
        assert pathway[0].alternatives == []


def test_each_step_adds_one_bond(pentamer_result):
    for pathway in pentamer_result.pathways:
        for before, after in zip(pathway, pathway[1:]):
            added = Counter(after.graph.hbonds) - Counter(before.graph.hbonds)
            assert after.graph.n_hbonds == before.graph.n_hbonds + 1
            assert list(added) == [(after.action.donor, after.action.acceptor)]
            assert after.action.apply(before.graph) == after.graph
            assert after.new_water == (after.graph.n_waters == before.graph.n_waters + 1)
            assert after.graph.n_waters - before.graph.n_waters in (0, 1)


def test_every_graph_valid(pentamer_result):
    problems = [
        step.graph.validity_problems()
        for pathway in pentamer_result.pathways
        for step in pathway
        if step.graph.validity_problems()
    ]
    assert problems == []


def test_final_graphs_reach_target(pentamer_result):
    assert [p[-1].graph.n_waters for p in pentamer_result.pathways] == [TARGET_SIZE] * N_RESULTS
    # No step grows past the target size.
    for pathway in pentamer_result.pathways:
        assert all(step.graph.n_waters <= TARGET_SIZE for step in pathway)


def test_results_not_isomorphic(pentamer_result):
    finals = [p[-1].graph for p in pentamer_result.pathways]
    for i in range(len(finals)):
        for j in range(i + 1, len(finals)):
            assert not same_network(finals[i], finals[j]), (i, j)


def test_results_sorted_by_reward(pentamer_result):
    rewards = [p[-1].reward.total for p in pentamer_result.pathways]
    assert rewards == sorted(rewards, reverse=True)


def test_alternatives_contain_choice(pentamer_result):
    for pathway in pentamer_result.pathways:
        for step in pathway[1:]:
            actions = [a.action for a in step.alternatives]
            scores = [a.score for a in step.alternatives]
            assert 1 <= len(step.alternatives) <= BRANCHING
            assert step.action in actions
            assert scores == sorted(scores, reverse=True)
            assert len(set(actions)) == len(actions)


def test_steps_carry_own_scores(pentamer_result):
    for step in pentamer_result.pathways[0]:
        assert step.descriptors == describe(step.graph)
        assert step.reward == score(step.graph, DEFAULT_WEIGHTS)


def test_chosen_score_is_reward(pentamer_result):
    # The reward look-ahead scores an action by the reward of the graph it leads to.
    for step in pentamer_result.pathways[0][1:]:
        chosen = next(a for a in step.alternatives if a.action == step.action)
        assert chosen.score == step.reward.total


def test_final_graphs_settled(pentamer_result):
    for pathway in pentamer_result.pathways:
        final = pathway[-1]
        better = [
            a for a in valid_actions(final.graph, allow_new_water=False)
            if score(a.apply(final.graph)).total > final.reward.total
        ]
        assert better == []


def test_search_deterministic():
    runs = [
        search(cyclic_pentamer(), Target(TARGET_SIZE), BRANCHING, RewardLookahead(), DEFAULT_WEIGHTS, Limits(max_results=3))
        for _ in range(2)
    ]
    assert [pathway_summary(p) for p in runs[0].pathways] == [pathway_summary(p) for p in runs[1].pathways]
    assert runs[0].expansions == runs[1].expansions


# --- limits and targets ----------------------------------------------------------------


def test_stopped_by_max_results():
    result = search(cyclic_pentamer(), Target(TARGET_SIZE), BRANCHING, RewardLookahead(), limits=Limits(max_results=1))
    assert result.stopped_by == "max_results"
    assert len(result.pathways) == 1


def test_stopped_by_max_expansions():
    result = search(cyclic_pentamer(), Target(TARGET_SIZE), BRANCHING, RewardLookahead(), limits=Limits(max_expansions=1))
    assert result.stopped_by == "max_expansions"
    assert result.expansions == 1
    assert result.pathways == []


def test_stopped_by_max_seconds():
    result = search(cyclic_pentamer(), Target(TARGET_SIZE), BRANCHING, RewardLookahead(), limits=Limits(max_seconds=0.0))
    assert result.stopped_by == "max_seconds"
    assert result.expansions == 0


def test_stopped_when_exhausted():
    result = search(cyclic_pentamer(), Target(6), 2, RewardLookahead(), limits=Limits(max_results=100))
    assert result.stopped_by == "exhausted"
    assert len(result.pathways) == 4


def test_without_settling():
    result = search(cyclic_pentamer(), Target(6, settle=False), 2, RewardLookahead(), limits=Limits(max_results=100))
    assert len(result.pathways) == 7
    # Without settling a pathway ends on the step that adds the 6th water.
    assert all(p[-1].new_water for p in result.pathways)
    assert all(p[-2].graph.n_waters == 5 for p in result.pathways)


def test_min_reward_respected():
    result = search(
        cyclic_pentamer(), Target(6, min_reward=2.1, settle=False), 2, RewardLookahead(), limits=Limits(max_results=100)
    )
    assert result.pathways
    assert all(p[-1].reward.total >= 2.1 for p in result.pathways)


def test_progress_reports_each_expansion():
    calls = []
    result = search(
        cyclic_pentamer(), Target(7), 2, RewardLookahead(), limits=Limits(max_results=2),
        progress=lambda expansions, found: calls.append((expansions, found)),
    )
    assert [c[0] for c in calls] == list(range(1, result.expansions + 1))
    assert calls[-1][1] >= len(result.pathways)


def test_weights_change_the_search():
    # With only the 5-ring count rewarded, the best pathway keeps a 5-ring.
    weights = RewardWeights({"rings_5": 1.0})
    result = search(cyclic_pentamer(), Target(6), 2, RewardLookahead(weights), weights, Limits(max_results=1))
    assert result.pathways[0][-1].reward.total >= 1.0
    assert set(result.pathways[0][-1].reward.components) == {"rings_5"}


# --- bad input ---------------------------------------------------------------------------


def test_branching_zero():
    with pytest.raises(InputError, match="branching factor must be at least 1, got 0"):
        search(cyclic_pentamer(), Target(7), 0, RewardLookahead())


def test_target_below_start():
    with pytest.raises(InputError, match="target size 4 is below the start graph's 5 waters"):
        search(cyclic_pentamer(), Target(4), 2, RewardLookahead())


def test_invalid_start_graph():
    start = WaterGraph(4, ((0, 1), (0, 2), (0, 3)))
    with pytest.raises(InputError, match="start graph is not valid: water 0 donates 3 hydrogen bonds"):
        search(start, Target(6), 2, RewardLookahead())


# --- valid actions ---------------------------------------------------------------------------


def brute_force_actions(graph: WaterGraph, allow_new_water: bool) -> set[Action]:
    """Every bond whose addition leaves a valid graph, found by building each candidate graph."""
    last = graph.n_waters if allow_new_water else graph.n_waters - 1
    found = set()
    for donor in range(last + 1):
        for acceptor in range(last + 1):
            if donor == graph.n_waters and acceptor == graph.n_waters:
                continue
            n_waters = graph.n_waters + (1 if graph.n_waters in (donor, acceptor) else 0)
            if WaterGraph(n_waters, graph.hbonds + ((donor, acceptor),)).is_valid():
                found.add(Action(donor, acceptor))
    return found


@pytest.mark.parametrize("seed", range(8))
def test_valid_actions_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_waters = int(rng.integers(1, 9))
    graph = random_valid_graph(rng, n_waters, int(rng.integers(0, 4 * n_waters + 1)))
    for allow_new_water in (True, False):
        listed = valid_actions(graph, allow_new_water)
        assert len(set(listed)) == len(listed)
        assert set(listed) == brute_force_actions(graph, allow_new_water)


def test_valid_actions_order():
    actions = valid_actions(WaterGraph(2, ((0, 1),)))
    assert actions == [Action(0, 2), Action(1, 2), Action(2, 0), Action(2, 1)]


def test_saturated_graph_no_actions():
    # Every water of the complete 5-water graph donates 2 and accepts 2 bonds.
    graph = WaterGraph(5, tuple((i, (i + k) % 5) for i in range(5) for k in (1, 2)))
    assert graph.is_valid()
    assert valid_actions(graph) == []


def test_lookahead_scores_rewards():
    model = RewardLookahead()
    graph = cyclic_pentamer()
    actions = valid_actions(graph)
    before = evaluation_count()
    scores = model.score_actions(graph, actions)
    assert evaluation_count() - before == len(actions)
    assert scores == [score(a.apply(graph)).total for a in actions]
