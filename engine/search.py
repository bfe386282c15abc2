"""SEARCH(G_init, b, M): expanding design pathways from a start graph to a target.

The search keeps a collection of candidate pathways. It pops one, requests from
the model ``M`` the ``b`` best next graphs of its last graph (EXPLORE-NEXT),
closes each next graph that matches the target into the results and pushes
the others back as extended pathways. The collection is a stack whose best
child is popped first, so the search reaches a first result quickly and then
backtracks into the alternatives.

An action adds one hydrogen bond ``donor -> acceptor``; an index equal to
the current number of waters stands for a new water. Only actions that keep
the graph valid (see :meth:`engine.graphs.WaterGraph.can_add`) are offered,
and new waters are not offered once the target size is reached.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from engine.descriptors import Descriptors, describe
from engine.errors import InputError
from engine.graphs import MAX_ACCEPTED, MAX_DONATED, WaterGraph, same_network
from engine.reward import DEFAULT_WEIGHTS, RewardBreakdown, RewardWeights, evaluation_count, score, score_many

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    """Add the hydrogen bond ``donor -> acceptor``; an index equal to ``n_waters`` is a new water."""

    donor: int
    acceptor: int

    def adds_water(self, graph: WaterGraph) -> bool:
        return graph.n_waters in (self.donor, self.acceptor)

    def apply(self, graph: WaterGraph) -> WaterGraph:
        return graph.add_hbond(self.donor, self.acceptor)


@dataclass(frozen=True)
class ScoredAction:
    """An action with the model's score for it (higher is better)."""

    action: Action
    score: float


def valid_actions(graph: WaterGraph, allow_new_water: bool = True) -> list[Action]:
    """List every action that keeps a valid graph valid, in a fixed order.

    Bonds between existing waters come first, ordered by donor then
    acceptor, then bonds to and from a new water. While new waters are
    allowed, a bond between existing waters that would use up the last
    free donor or acceptor slot is left out: no new water could attach
    after it, so the target size would become unreachable.
    """
    n = graph.n_waters
    out_degrees = graph.out_degrees()
    in_degrees = graph.in_degrees()
    bonded = {(min(d, a), max(d, a)) for d, a in graph.hbonds}
    free_slots = int((MAX_DONATED - out_degrees).sum() + (MAX_ACCEPTED - in_degrees).sum())
    actions = [
        Action(d, a)
        for d in range(n)
        if out_degrees[d] < MAX_DONATED
        for a in range(n)
        if a != d and in_degrees[a] < MAX_ACCEPTED and (min(d, a), max(d, a)) not in bonded
    ]
    if allow_new_water:
        # Each bond between existing waters uses one donor and one acceptor slot.
        if free_slots <= 2:
            actions = []
        actions += [Action(d, n) for d in range(n) if out_degrees[d] < MAX_DONATED]
        actions += [Action(n, a) for a in range(n) if in_degrees[a] < MAX_ACCEPTED]
    return actions


class Model(Protocol):
    """Interface of the model M that EXPLORE-NEXT calls: scores for candidate actions."""

    name: str

    def score_actions(self, graph: WaterGraph, actions: list[Action]) -> list[float]:
        """Return one score per action; higher means more promising."""


class RewardLookahead:
    """One-step look-ahead: an action scores the reward of the graph it leads to."""

    name = "reward-lookahead"

    def __init__(self, weights: RewardWeights = DEFAULT_WEIGHTS):
        self.weights = weights

    def score_actions(self, graph: WaterGraph, actions: list[Action]) -> list[float]:
        return [breakdown.total for breakdown in score_many([action.apply(graph) for action in actions], self.weights)]


@dataclass(frozen=True)
class Target:
    """MATCH-TARGET settings.

    Attributes:
        size: Number of waters of a finished graph.
        min_reward: If set, a graph of the target size matches only when its
            reward reaches this value; below it the pathway keeps adding
            bonds between existing waters.
        settle: If True, a graph of the target size matches only when no
            valid bond between its waters would raise the reward, so the
            final graph is a local optimum of the reward and not the first
            graph that happens to have enough waters.
    """

    size: int
    min_reward: float | None = None
    settle: bool = True


@dataclass(frozen=True)
class Limits:
    """Bounds on the work of one search.

    Attributes:
        max_results: Stop after this many distinct result pathways.
        max_expansions: Stop after this many EXPLORE-NEXT calls.
        max_seconds: Stop after this much wall time, in seconds.
    """

    max_results: int = 10
    max_expansions: int = 2000
    max_seconds: float = 120.0


@dataclass
class Step:
    """One graph of a pathway and how it was reached.

    ``alternatives`` are the ``b`` actions EXPLORE-NEXT returned from the
    previous graph, best first, the chosen one included.
    """

    graph: WaterGraph
    descriptors: Descriptors
    reward: RewardBreakdown
    action: Action | None = None
    alternatives: list[ScoredAction] = field(default_factory=list)
    new_water: bool = False


@dataclass
class SearchResult:
    """Result pathways, best final reward first, and why the search stopped.

    ``trace`` lists, in the order the results were found, the number of
    reward evaluations made up to that point and the result's final reward.
    """

    pathways: list[list[Step]]
    stopped_by: str
    expansions: int
    reward_evaluations: int
    wall_seconds: float
    trace: list[tuple[int, float]] = field(default_factory=list)


def make_step(graph: WaterGraph, weights: RewardWeights, action=None, alternatives=(), new_water=False) -> Step:
    """Describe and score ``graph`` and wrap it as a pathway step."""
    descriptors = describe(graph)
    return Step(graph, descriptors, score(graph, weights, descriptors), action, list(alternatives), new_water)


def check_search_input(start: WaterGraph, target: Target, branching: int) -> None:
    """Reject a start graph, target or branching factor that cannot work.

    Raises:
        InputError: naming the rule and the offending value.
    """
    if branching < 1:
        raise InputError(f"branching factor must be at least 1, got {branching}")
    if target.size < start.n_waters:
        raise InputError(f"target size {target.size} is below the start graph's {start.n_waters} waters")
    problems = start.validity_problems()
    if problems:
        raise InputError(f"start graph is not valid: {'; '.join(problems)}")


def search(
    start: WaterGraph,
    target: Target,
    branching: int,
    model: Model,
    weights: RewardWeights = DEFAULT_WEIGHTS,
    limits: Limits = Limits(),
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Run SEARCH(G_init, b, M) and return the result pathways.

    Args:
        start: The start graph G_init.
        target: MATCH-TARGET settings.
        branching: The branching factor b, at least 1.
        model: Scores candidate actions (EXPLORE-NEXT takes the b best).
        weights: Reward weights for the steps' breakdowns and for ``target``.
        limits: Bounds on the work. The result names the bound that stopped it.
        progress: Called as ``progress(expansions, results)`` after each expansion.

    Returns:
        Result pathways deduplicated up to isomorphism of the final graph and
        ranked by final reward; ``stopped_by`` is ``"exhausted"`` when the
        collection ran empty, otherwise the name of the limit that was hit.
    """
    check_search_input(start, target, branching)
    started = time.perf_counter()
    evaluations_before = evaluation_count()
    collection: list[list[Step]] = [[make_step(start, weights)]]
    results: list[list[Step]] = []
    seen_hashes: dict[str, list[WaterGraph]] = {}
    trace: list[tuple[int, float]] = []
    expansions = 0
    stopped_by = "exhausted"

    while collection:
        if len(results) >= limits.max_results:
            stopped_by = "max_results"
            break
        if expansions >= limits.max_expansions:
            stopped_by = "max_expansions"
            break
        if time.perf_counter() - started > limits.max_seconds:
            stopped_by = "max_seconds"
            break

        pathway = collection.pop()
        children = explore_next(pathway[-1], target, branching, model, weights)
        expansions += 1

        # Push the best child last so it is popped first.
        for child in reversed(children):
            extended = pathway + [child]
            if matches_target(child, target, model, weights):
                if _is_new_result(child.graph, seen_hashes):
                    results.append(extended)
                    trace.append((evaluation_count() - evaluations_before, child.reward.total))
                    logger.debug("result %d: reward %.4f", len(results), child.reward.total)
            else:
                collection.append(extended)
        if progress is not None:
            progress(expansions, len(results))

    if stopped_by == "exhausted" and len(results) >= limits.max_results:
        stopped_by = "max_results"
    results.sort(key=lambda steps: steps[-1].reward.total, reverse=True)
    evaluations = evaluation_count() - evaluations_before
    wall = time.perf_counter() - started
    logger.info(
        "search stopped by %s after %d expansions: %d pathways in %.2f s", stopped_by, expansions, len(results), wall
    )
    return SearchResult(results[: limits.max_results], stopped_by, expansions, evaluations, wall, trace)


def explore_next(step: Step, target: Target, branching: int, model: Model, weights: RewardWeights) -> list[Step]:
    """EXPLORE-NEXT: the ``branching`` best next graphs of ``step`` by the model's scores."""
    graph = step.graph
    actions = valid_actions(graph, allow_new_water=graph.n_waters < target.size)
    if not actions:
        return []
    scores = model.score_actions(graph, actions)
    ranked = sorted(zip(actions, scores), key=lambda pair: -pair[1])[:branching]
    alternatives = [ScoredAction(action, float(value)) for action, value in ranked]
    return [
        make_step(action.apply(graph), weights, action, alternatives, action.adds_water(graph)) for action, _ in ranked
    ]


def matches_target(step: Step, target: Target, model: Model, weights: RewardWeights) -> bool:
    """MATCH-TARGET: the target size, the optional reward threshold, and settling."""
    if step.graph.n_waters != target.size:
        return False
    if target.min_reward is not None and step.reward.total < target.min_reward:
        return False
    if target.settle:
        actions = valid_actions(step.graph, allow_new_water=False)
        if actions and max(b.total for b in score_many([a.apply(step.graph) for a in actions], weights)) > step.reward.total:
            return False
    return True


def _is_new_result(graph: WaterGraph, seen: dict[str, list[WaterGraph]]) -> bool:
    """Record ``graph`` unless an isomorphic graph was recorded already."""
    key = graph.canonical_hash()
    for other in seen.get(key, []):
        if same_network(graph, other):
            return False
    seen.setdefault(key, []).append(graph)
    return True


def cyclic_pentamer() -> WaterGraph:
    """Build the cyclic water pentamer: five waters in a ring, each donating to the next."""
    return WaterGraph(5, tuple((i, (i + 1) % 5) for i in range(5)))
