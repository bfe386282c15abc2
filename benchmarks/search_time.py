"""Measure the wall time of SEARCH from the cyclic pentamer to 10 waters.

Uses the one-step reward look-ahead model with the default reward and the
CLI's default limits, and prints one JSON object::

    .venv/bin/python -m benchmarks.search_time --branching 3
"""

from __future__ import annotations

import argparse
import json
import time

from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branching", type=int, default=3)
    parser.add_argument("--target-size", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="runs; the fastest is reported (default: 3)")
    args = parser.parse_args()
    timings = []
    for _ in range(args.repeats):
        model = RewardLookahead()
        started = time.perf_counter()
        result = search(cyclic_pentamer(), Target(args.target_size), args.branching, model, limits=Limits())
        timings.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "branching": args.branching,
                "target_size": args.target_size,
                "pathways": len(result.pathways),
                "stopped_by": result.stopped_by,
                "expansions": result.expansions,
                "reward_evaluations": result.reward_evaluations,
                "best_seconds": round(min(timings), 3),
                "best_final_reward": result.pathways[0][-1].reward.total if result.pathways else None,
            }
        )
    )


if __name__ == "__main__":
    main()
