"""Command-line interface: ``python -m engine describe|search``.

Every command exits with status 0 on success and 2 with a one-line
``error: ...`` message on bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

import numpy as np

from engine.components import ComponentCache, compute_table_chunked, file_digest
from engine.descriptors import describe
from engine.fitting import fit_with_split
from engine.errors import InputError
from engine.graphs import WaterGraph
from engine.io import read_clusters
from engine.logs import configure_logging
from engine.pathways import result_to_dict, write_pathways
from engine.presets import load_preset
from engine.reward import DEFAULT_WEIGHTS, RewardWeights, load_weights, score
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search
from engine.summary import describe_record
from engine.surrogate.cli import add_subcommands as add_surrogate_subcommands

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Water-cluster graphs, rewards and design search.")
    commands = parser.add_subparsers(dest="command", required=True)

    describe_cmd = commands.add_parser("describe", help="print descriptors and reward of every cluster, one JSON object per line")
    describe_cmd.add_argument("files", nargs="+", metavar="FILE", help="xyz, extxyz, ASE .db or HydroNet .tfrecord[.gz] files")
    describe_cmd.add_argument("--weights", metavar="PRESET.json", help="reward weights (default: the degree term and punishments at weight 1)")
    describe_cmd.set_defaults(handler=run_describe)

    search_cmd = commands.add_parser("search", help="grow a start cluster to a target size and write the design pathways")
    search_cmd.add_argument("--start", default="pentamer", help="'pentamer' or a cluster file (default: pentamer)")
    search_cmd.add_argument("--frame", type=int, default=0, help="frame of the start file to use (default: 0)")
    search_cmd.add_argument("--target-size", type=int, required=True, help="number of waters of a finished graph")
    search_cmd.add_argument("--branching", type=int, default=3, help="branching factor b: next graphs kept per expansion (default: 3)")
    search_cmd.add_argument("--weights", metavar="PRESET.json", help="reward weights (default: the degree term and punishments at weight 1)")
    search_cmd.add_argument("--min-reward", type=float, default=None, help="a finished graph must reach this reward")
    search_cmd.add_argument("--no-settle", action="store_true", help="finish as soon as the target size is reached, without adding bonds that raise the reward")
    search_cmd.add_argument("--max-results", type=int, default=10, help="stop after this many distinct pathways (default: 10)")
    search_cmd.add_argument("--max-expansions", type=int, default=2000, help="stop after this many expansions (default: 2000)")
    search_cmd.add_argument("--max-seconds", type=float, default=120.0, help="stop after this much wall time in seconds (default: 120)")
    search_cmd.add_argument("--policy", metavar="POLICY_DIR", help="score actions with a trained policy (default: one-step reward look-ahead)")
    search_cmd.add_argument("--out", required=True, metavar="PATHWAYS.json", help="pathways file to write")
    search_cmd.set_defaults(handler=run_search)

    policy_cmd = commands.add_parser("train-policy", help="train the graph policy that proposes growth steps (double DQN)")
    policy_cmd.add_argument("--reward", default="default", metavar="PRESET", help="reward preset name or JSON file (default: default)")
    policy_cmd.add_argument("--start", default="pentamer", help="'pentamer' or a cluster file (default: pentamer)")
    policy_cmd.add_argument("--frame", type=int, default=0, help="frame of the start file to use (default: 0)")
    policy_cmd.add_argument("--target-size", type=int, required=True, help="number of waters of a finished graph")
    policy_cmd.add_argument("--out", required=True, metavar="POLICY_DIR", help="policy folder; an existing run there is resumed")
    policy_cmd.add_argument("--config", metavar="CONFIG.yaml", help="training settings (default: configs/policy.yaml values)")
    policy_cmd.add_argument("--episodes", type=int, help="episodes to train (overrides the configuration)")
    policy_cmd.add_argument("--seed", type=int, help="seed (overrides the configuration)")
    policy_cmd.add_argument("--workers", type=int, help="rollout worker processes (overrides the configuration)")
    policy_cmd.set_defaults(handler=run_train_policy)

    fit_cmd = commands.add_parser("fit-reward", help="fit reward weights to the energies of a dataset and save them as a preset")
    fit_cmd.add_argument("data", metavar="DATA", help="cluster file with energies")
    fit_cmd.add_argument("--out", required=True, metavar="PRESET.json", help="preset file to write")
    fit_cmd.add_argument("--train-fraction", type=float, default=0.8, help="fraction of clusters fitted on; the rest is held out (default: 0.8)")
    fit_cmd.add_argument("--seed", type=int, default=0, help="seed of the random split (default: 0)")
    fit_cmd.add_argument("--top-k", type=int, default=10, help="k of the top-k overlap (default: 10)")
    fit_cmd.add_argument("--cache-dir", default=None, help="component table cache folder (default: no cache)")
    fit_cmd.set_defaults(handler=run_fit_reward)

    add_surrogate_subcommands(commands)
    return parser


def _weights(path: str | None) -> RewardWeights:
    return DEFAULT_WEIGHTS if path is None else load_weights(path)


def run_describe(args: argparse.Namespace) -> int:
    weights = _weights(args.weights)
    for path in args.files:
        clusters = read_clusters(path)
        for cluster in tqdm(clusters, desc=Path(path).name, unit=" clusters", disable=None, file=sys.stderr):
            descriptors = describe(cluster.water_graph)
            reward = score(cluster.water_graph, weights, descriptors, cluster.atomic_graph)
            record = {"source": cluster.source, "frame": cluster.frame, "energy": cluster.energy}
            record.update(describe_record(descriptors, reward))
            sys.stdout.write(json.dumps(record) + "\n")
    return 0


def load_start(start: str, frame: int = 0) -> tuple[WaterGraph, str]:
    """Return the start graph named by ``start`` and a label for it.

    Raises:
        InputError: if the file has no such frame.
    """
    if start == "pentamer":
        return cyclic_pentamer(), "pentamer"
    if frame < 0:
        raise InputError(f"frame must be >= 0, got {frame}")
    for cluster in read_clusters(start):
        if cluster.frame == frame:
            return cluster.water_graph, f"{start}#{frame}"
    raise InputError(f"{start}: has no frame {frame}")


def load_reward(name_or_path: str) -> RewardWeights:
    """Load a reward preset by name from the presets folder, or from a JSON file path."""
    if name_or_path.endswith(".json") or "/" in name_or_path:
        return load_weights(name_or_path)
    return load_preset(name_or_path)


def run_train_policy(args: argparse.Namespace) -> int:
    import torch

    from engine.rl.train import PolicyTrainer, load_policy_config

    # The policy network works on small graphs: one thread avoids thread start-up and contention costs.
    torch.set_num_threads(1)
    weights = load_reward(args.reward)
    start, label = load_start(args.start, args.frame)
    config = load_policy_config(args.config, {"episodes": args.episodes, "seed": args.seed, "workers": args.workers})
    trainer = PolicyTrainer(args.out, start, args.target_size, weights, config, label)
    with tqdm(total=config.episodes, initial=trainer.episode, desc="episodes", disable=None, file=sys.stderr) as bar:
        summary = trainer.train(lambda episode, total, row: bar.update(episode - bar.n))
    rate = summary["environment_steps"] / summary["seconds"] if summary["seconds"] > 0 else 0.0
    logger.info("trained %d episodes; best final reward %.4f; %.0f environment steps per second",
                summary["episodes"], summary["best_final_reward"], rate)
    return 0


def run_search(args: argparse.Namespace) -> int:
    if args.policy and args.weights is None:
        from engine.rl.model import PolicyModel

        # Without --weights the search uses the reward the policy was trained for.
        weights = PolicyModel(args.policy).trained_weights
    else:
        weights = _weights(args.weights)
    start, label = load_start(args.start, args.frame)
    for name in ("max_results", "max_expansions"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not args.max_seconds > 0:
        raise InputError(f"--max-seconds must be positive, got {args.max_seconds}")
    target = Target(args.target_size, args.min_reward, not args.no_settle)
    limits = Limits(args.max_results, args.max_expansions, args.max_seconds)
    if args.policy:
        from engine.rl.model import PolicyModel

        model = PolicyModel(args.policy, weights)
    else:
        model = RewardLookahead(weights)
    with tqdm(total=limits.max_results, desc="pathways", disable=None, file=sys.stderr) as bar:

        reported = [0]

        def report(expansions: int, found: int) -> None:
            # The last expansion may find more pathways than the bound; only the bound's number is kept.
            found = min(found, limits.max_results)
            if found > reported[0]:
                # One log line whenever pathways were found, which the job layer turns into the job's progress.
                logger.info("pathway %d/%d found after %d expansions", found, limits.max_results, expansions)
                bar.update(found - reported[0])
                reported[0] = found

        result = search(start, target, args.branching, model, weights, limits, report)
    write_pathways(result_to_dict(result, label, target, args.branching, model.name, weights, limits), args.out)
    logger.info("wrote %d pathways to %s (stopped by %s)", len(result.pathways), args.out, result.stopped_by)
    return 0


def run_fit_reward(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    progress = tqdm(desc="component table", unit=" clusters", disable=None, file=sys.stderr)

    def report(done: int, total: int) -> None:
        progress.total = total
        progress.update(done - progress.n)

    if args.cache_dir:
        cache = ComponentCache(args.cache_dir)
        table = cache.table_for_file(args.data, report)
        cache.close()
    else:
        table = compute_table_chunked(list(read_clusters(args.data)), report)
    progress.close()
    if np.isnan(table.energies).any():
        raise InputError(f"{args.data}: fitting needs an energy for every cluster; {int(np.isnan(table.energies).sum())} have none")

    result = fit_with_split(table, args.train_fraction, args.seed, args.top_k)
    metadata = {
        "description": "Weights fitted by least squares on -energy, centred per cluster size.",
        "fitted": {
            "data": str(args.data),
            "data_sha256": file_digest(args.data),
            "n_clusters": len(table),
            "split": {"seed": args.seed, "train_fraction": args.train_fraction,
                      "n_train": len(result.train_index), "n_test": len(result.test_index)},
            "held_out_rmse_kcal_mol": result.rmse_kcal_mol,
            "train": [a.to_dict() for a in result.train_agreement],
            "held_out": [a.to_dict() for a in result.test_agreement],
        },
    }
    out = Path(args.out)
    content = {"name": out.stem, **result.weights.to_dict(), **metadata}
    out.write_text(json.dumps(content, indent=2) + "\n")

    print(f"{'size':>4} {'n_train':>7} {'rho_train':>9} {'n_test':>6} {'rho_test':>8}")
    held_out = {a.n_waters: a for a in result.test_agreement}
    for train in result.train_agreement:
        test = held_out.get(train.n_waters)
        print(
            f"{train.n_waters:>4} {train.n_clusters:>7} {_format_rho(train.spearman):>9} "
            f"{test.n_clusters if test else 0:>6} {_format_rho(test.spearman if test else None):>8}"
        )
    print(f"held-out RMSE within size: {result.rmse_kcal_mol:.3f} kcal/mol; preset written to {out}")
    return 0


def _format_rho(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    configure_logging("WARNING")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
