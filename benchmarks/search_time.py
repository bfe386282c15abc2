"""Measure the wall time of SEARCH from the cyclic pentamer to 10 waters.

Uses the one-step reward look-ahead model with the default reward, or the
reward given by ``--reward`` (a preset name or JSON file), and the CLI's
default limits, and prints one JSON object::

    .venv/bin/python -m benchmarks.search_time --branching 3
    .venv/bin/python -m benchmarks.search_time --branching 2 --target-size 7 --reward PRESET_WITH_SURROGATE.json

With a reward that includes the surrogate, the same search with the
surrogate's weight set to 0 is timed in the same run as the baseline. The
surrogate's kept predictions are cleared before every run, so each run
predicts from scratch. The first run also imports torch and DGL, so the
fastest of ``--repeats`` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import time

from engine.cli import load_reward
from engine.reward import DEFAULT_WEIGHTS, RewardWeights, clear_prediction_cache
from engine.search import Limits, RewardLookahead, SearchResult, Target, cyclic_pentamer, search


def timed_search(weights: RewardWeights, target_size: int, branching: int, repeats: int) -> tuple[float, SearchResult]:
    """Return the fastest wall time of ``repeats`` searches and the last result."""
    timings = []
    for _ in range(repeats):
        clear_prediction_cache()
        started = time.perf_counter()
        result = search(cyclic_pentamer(), Target(target_size), branching, RewardLookahead(weights), weights, Limits())
        timings.append(time.perf_counter() - started)
    return min(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branching", type=int, default=3)
    parser.add_argument("--target-size", type=int, default=10)
    parser.add_argument("--reward", help="reward preset name or JSON file (default: the default weights)")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the fastest is reported (default: 3)")
    args = parser.parse_args()
    weights = load_reward(args.reward) if args.reward else DEFAULT_WEIGHTS
    seconds, result = timed_search(weights, args.target_size, args.branching, args.repeats)
    baseline = {}
    if weights.uses_surrogate:
        plain = RewardWeights(dict(weights.weights), weights.degree_target)
        plain_seconds, plain_result = timed_search(plain, args.target_size, args.branching, args.repeats)
        # The two rewards lead to different searches, so the cost per scored graph is what compares.
        per_graph = seconds / result.reward_evaluations
        plain_per_graph = plain_seconds / plain_result.reward_evaluations
        baseline = {
            "without_surrogate_seconds": round(plain_seconds, 3),
            "without_surrogate_evaluations": plain_result.reward_evaluations,
            "milliseconds_per_evaluation": round(1000 * per_graph, 3),
            "without_surrogate_milliseconds_per_evaluation": round(1000 * plain_per_graph, 3),
            "per_evaluation_ratio": round(per_graph / plain_per_graph, 2),
        }
    print(
        json.dumps(
            {
                "branching": args.branching,
                "target_size": args.target_size,
                "reward": args.reward or "default",
                "pathways": len(result.pathways),
                "stopped_by": result.stopped_by,
                "expansions": result.expansions,
                "reward_evaluations": result.reward_evaluations,
                "best_seconds": round(seconds, 3),
                **baseline,
                "best_final_reward": result.pathways[0][-1].reward.total if result.pathways else None,
            }
        )
    )


if __name__ == "__main__":
    main()
