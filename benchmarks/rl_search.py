"""Compare ways of growing (H2O)5 into (H2O)10 at equal numbers of reward evaluations.

For each reward preset (the default and a fitted one) this script runs:

* ``random``: episodes of uniformly random valid actions (stop included at
  the target size); only each episode's final graph is scored, which is
  the cheapest possible use of the reward;
* ``greedy``: SEARCH with the one-step reward look-ahead and b = 1;
* ``learned-b1`` .. ``learned-b3``: SEARCH with a trained policy, b = 1, 2, 3;
* ``optimum``: the exact best reward over all valid water graphs of the
  target size, by exhaustive enumeration (:mod:`engine.enumeration`).

A reward evaluation is one call of :func:`engine.reward.score`. For every
method the script records the best final reward as a function of reward
evaluations, the wall time, and whether the hydrogen-bond network of the
known (H2O)10 minimum is among the method's final graphs (as a directed
graph, and as an undirected one) and at which rank. It prints one JSON
object and writes it plus a PNG plot next to ``--out``::

    .venv/bin/python -m engine train-policy --reward default --target-size 10 --out var/policies/default
    .venv/bin/python -m engine train-policy --reward fitted-hydronet --target-size 10 --out var/policies/fitted
    .venv/bin/python -m benchmarks.rl_search --policy default=var/policies/default \\
        --policy fitted-hydronet=var/policies/fitted --out benchmarks/results/rl_search.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import networkx as nx

from engine.enumeration import best_graphs, count_better
from engine.graphs import WaterGraph, same_network
from engine.io import read_clusters
from engine.presets import load_preset
from engine.reward import RewardWeights, evaluation_count, score
from engine.rl.env import GrowthEnv
from engine.rl.model import PolicyModel
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search

MINIMUM_W10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "minima" / "w10_lowest.xyz"


def best_so_far(trace: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Turn ``(evaluations, reward)`` pairs into a running maximum."""
    curve, best = [], float("-inf")
    for evaluations, reward in trace:
        if reward > best:
            best = reward
            curve.append((evaluations, reward))
    return curve


def evaluations_to_reach(curve: list[tuple[int, float]], value: float) -> int | None:
    for evaluations, reward in curve:
        # Rewards of equal graphs agree to round-off.
        if reward >= value - 1e-9:
            return evaluations
    return None


def minimum_rank(finals: list[WaterGraph], minimum: WaterGraph | None) -> dict:
    """Rank (from 1) of the known minimum's network among ``finals``, directed and undirected."""
    if minimum is None:
        return {"directed": None, "undirected": None}
    directed = next((i + 1 for i, g in enumerate(finals) if same_network(g, minimum)), None)
    undirected = next(
        (i + 1 for i, g in enumerate(finals) if nx.is_isomorphic(g.to_networkx(), minimum.to_networkx())), None
    )
    return {"directed": directed, "undirected": undirected}


def run_random(weights: RewardWeights, target: int, budget: int, seed: int) -> dict:
    env = GrowthEnv(cyclic_pentamer(), target, weights, max_steps=60, reward_function=lambda graph: 0.0)
    rng = random.Random(seed)
    started = time.perf_counter()
    trace, finals = [], []
    for episode in range(budget):
        graph = env.reset()
        while not env.done:
            actions = env.valid_actions()
            graph = env.step(actions[rng.randrange(len(actions))]).graph
        if graph.n_waters == target:
            trace.append((episode + 1, score(graph, weights).total))
            finals.append(graph)
    ranked = [g for _, g in sorted(zip([r for _, r in trace], finals), key=lambda pair: -pair[0])]
    return {"trace": trace, "finals": ranked, "evaluations": budget, "seconds": time.perf_counter() - started}


def run_search(model, weights: RewardWeights, target: int, branching: int, max_results: int, max_seconds: float) -> dict:
    before = evaluation_count()
    result = search(cyclic_pentamer(), Target(target), branching, model, weights,
                    Limits(max_results=max_results, max_expansions=100000, max_seconds=max_seconds))
    return {
        "trace": result.trace,
        "finals": [pathway[-1].graph for pathway in result.pathways],
        "evaluations": evaluation_count() - before,
        "seconds": result.wall_seconds,
        "stopped_by": result.stopped_by,
    }


def summarise(name: str, run: dict, optimum: float, minimum: WaterGraph | None) -> dict:
    curve = best_so_far(run["trace"])
    return {
        "method": name,
        "best_final_reward": curve[-1][1] if curve else None,
        "evaluations": run["evaluations"],
        "evaluations_to_optimum": evaluations_to_reach(curve, optimum),
        "seconds": round(run["seconds"], 3),
        "results": len(run["finals"]),
        "stopped_by": run.get("stopped_by"),
        "w10_minimum_rank": minimum_rank(run["finals"], minimum),
        "curve": curve,
    }


def benchmark_preset(name: str, policy_dir: str | None, args, minimum: WaterGraph | None) -> dict:
    weights = load_preset(name)
    started = time.perf_counter()
    minimum_reward = score(minimum, weights).total if minimum is not None else None
    optimum_graphs, enumerated = best_graphs(args.target_size, weights, top=1)
    optimum = optimum_graphs[0][0]
    enumeration_seconds = time.perf_counter() - started
    # Rank of the minimum's undirected network among all enumerated graphs (ties share a rank).
    minimum_graph_rank = None
    if minimum is not None:
        minimum_graph_rank = count_better(args.target_size, weights, minimum_reward) + 1

    methods = [summarise("random", run_random(weights, args.target_size, args.random_budget, args.seed), optimum, minimum)]
    methods.append(summarise("greedy", run_search(RewardLookahead(weights), weights, args.target_size, 1,
                                                  args.max_results, args.max_seconds), optimum, minimum))
    if policy_dir:
        model = PolicyModel(policy_dir, weights)
        for branching in (1, 2, 3):
            methods.append(summarise(f"learned-b{branching}", run_search(
                model, weights, args.target_size, branching, args.max_results, args.max_seconds), optimum, minimum))
    random_to_optimum = methods[0]["evaluations_to_optimum"]
    return {
        "preset": name,
        "optimum": optimum,
        "optimum_graph": optimum_graphs[0][1].to_dict(),
        "graphs_enumerated": enumerated,
        "w10_minimum_reward": minimum_reward,
        "w10_minimum_rank_among_enumerated": minimum_graph_rank,
        "enumeration_seconds": round(enumeration_seconds, 2),
        "random_evaluations_to_optimum": random_to_optimum,
        "methods": methods,
    }


def environment_steps_per_second(seconds: float = 5.0) -> float:
    """Random-action environment steps per second with the default reward scored at every step."""
    env = GrowthEnv(cyclic_pentamer(), 10, load_preset("default"))
    rng = random.Random(0)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        env.reset()
        while not env.done:
            actions = env.valid_actions()
            env.step(actions[rng.randrange(len(actions))])
            steps += 1
    return steps / (time.perf_counter() - started)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for axis, preset in zip(axes[0], results):
        for method in preset["methods"]:
            if method["curve"]:
                x, y = zip(*method["curve"])
                axis.step(x, y, where="post", marker="o", markersize=3, label=method["method"])
        axis.axhline(preset["optimum"], color="black", linestyle="--", label="optimum (enumeration)")
        axis.set_xscale("log")
        axis.set_xlabel("reward evaluations")
        axis.set_ylabel("best final reward")
        axis.set_title(f"(H2O)5 -> (H2O)10, preset {preset['preset']}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", default=[], metavar="PRESET=POLICY_DIR",
                        help="a trained policy for a preset; presets without one run without learned search")
    parser.add_argument("--presets", nargs="+", default=["default", "fitted-hydronet"])
    parser.add_argument("--target-size", type=int, default=10)
    parser.add_argument("--random-budget", type=int, default=20000, help="random episodes (default: 20000)")
    parser.add_argument("--max-results", type=int, default=50, help="result pathways per search (default: 50)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="wall-time bound per search (default: 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/rl_search.json")
    args = parser.parse_args()

    policies = dict(item.split("=", 1) for item in args.policy)
    minimum = next(read_clusters(MINIMUM_W10)).water_graph if MINIMUM_W10.is_file() else None
    results = [benchmark_preset(name, policies.get(name), args, minimum) for name in args.presets]
    report = {
        "target_size": args.target_size,
        "environment_steps_per_second": round(environment_steps_per_second(), 1),
        "presets": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    plot(results, out.with_suffix(".png"))
    print(json.dumps({k: v for k, v in report.items() if k != "presets"} | {"presets": [
        {k: v for k, v in p.items() if k not in ("methods", "optimum_graph")} | {"methods": [
            {k: v for k, v in m.items() if k != "curve"} for m in p["methods"]]} for p in results]}, indent=1))


if __name__ == "__main__":
    main()
