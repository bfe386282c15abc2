"""Subcommands ``train``, ``predict`` and ``convert`` of ``python -m engine``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from engine.logs import LOG_LEVEL_VARIABLE

logger = logging.getLogger(__name__)


def add_subcommands(commands: argparse._SubParsersAction) -> None:
    """Register ``train``, ``predict`` and ``convert`` on the engine's subcommand parser."""
    train_cmd = commands.add_parser("train", help="train the MPNN energy surrogate (resumes an existing model directory)")
    train_cmd.add_argument("--data", required=True, metavar="FILE", help="cluster file with energies (xyz, extxyz, .db, .tfrecord[.gz])")
    train_cmd.add_argument("--out", required=True, metavar="MODEL_DIR", help="model directory to create or resume")
    train_cmd.add_argument("--config", metavar="CONFIG.yaml", help="surrogate config (default: built-in defaults, as in configs/surrogate.yaml)")
    train_cmd.add_argument("--cache-dir", metavar="DIR", help="folder of the converted data (default: MODEL_DIR/cache)")
    train_cmd.add_argument("--max-epochs", type=int, metavar="N", help="stop this run after epoch N; rerun to continue")
    train_cmd.add_argument("--time-limit", type=float, metavar="MINUTES", help="stop this run before an epoch would end past this wall time; rerun to continue")
    train_cmd.add_argument("--distributed", action="store_true", help="train data-parallel (automatic when WORLD_SIZE > 1); launch with torchrun or srun")
    train_cmd.add_argument("--backend", choices=("gloo", "nccl", "horovod"), help="collective backend (default: nccl with CUDA, else gloo)")
    train_cmd.add_argument("--threads", type=int, metavar="N", help="torch threads per process (default: torch's choice)")
    train_cmd.set_defaults(handler=run_train)

    predict_cmd = commands.add_parser("predict", help="predict cluster energies with a trained surrogate, one JSON object per line")
    predict_cmd.add_argument("files", nargs="+", metavar="FILE", help="cluster files (xyz, extxyz, .db, .tfrecord[.gz]) or pathways .json files written by search")
    predict_cmd.add_argument("--model", required=True, metavar="MODEL_DIR", help="model directory written by train")
    predict_cmd.add_argument("--batch-size", type=int, default=1024, help="graphs per prediction batch (default: 1024)")
    predict_cmd.set_defaults(handler=run_predict)

    convert_cmd = commands.add_parser("convert", help="convert a cluster file into the surrogate's cached graph form")
    convert_cmd.add_argument("data", metavar="DATA", help="cluster file (xyz, extxyz, .db, .tfrecord[.gz])")
    convert_cmd.add_argument("--cache-dir", required=True, metavar="DIR", help="cache folder")
    convert_cmd.add_argument("--force", action="store_true", help="convert even when the cache is up to date")
    convert_cmd.set_defaults(handler=run_convert)


def _show_progress_logs() -> None:
    """Log the surrogate's per-epoch lines at INFO unless the user chose a log level."""
    if LOG_LEVEL_VARIABLE not in os.environ:
        logging.getLogger("engine.surrogate").setLevel(logging.INFO)


def run_train(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.surrogate.config import load_config
    from engine.surrogate.errors import TrainingError
    from engine.surrogate.train import TrainRequest, train

    if args.max_epochs is not None and args.max_epochs < 1:
        raise InputError(f"--max-epochs must be at least 1, got {args.max_epochs}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise InputError(f"--time-limit must be positive, got {args.time_limit}")
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    _show_progress_logs()
    request = TrainRequest(
        data=Path(args.data),
        out=Path(args.out),
        config=load_config(args.config),
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        max_epochs=args.max_epochs,
        time_limit_seconds=None if args.time_limit is None else 60.0 * args.time_limit,
        distributed=args.distributed,
        backend=args.backend,
    )
    try:
        result = train(request)
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if result.rank == 0:
        print(json.dumps(_summary(result, args.out)))
    return 0


def _summary(result, out: str) -> dict:
    overall = (result.report or {}).get("overall", {})
    return {
        "model_dir": str(out),
        "epochs_completed": result.state.epoch,
        "best_epoch": result.state.best_epoch,
        "finished": result.state.finished,
        "stop_reason": result.state.stop_reason,
        "test_mae_kcal_mol": {name: values["mae"] for name, values in overall.items()},
    }


def run_predict(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.surrogate.predict import load_model, predict_file, predict_pathways_file

    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    loaded = load_model(args.model)
    for path in args.files:
        if path.lower().endswith(".json"):
            records = predict_pathways_file(loaded, path)
        else:
            records = predict_file(loaded, path, args.batch_size)
        for record in records:
            sys.stdout.write(json.dumps(record) + "\n")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from engine.surrogate.data import CachePaths, load_dataset

    _show_progress_logs()
    result = load_dataset(args.data, args.cache_dir, force=args.force)
    summary = {
        "source": str(args.data),
        "cache": str(CachePaths.for_source(args.data, args.cache_dir).graphs),
        "converted": result.converted,
        "n_graphs": len(result.store),
        "n_with_energy": int(result.manifest.get("n_with_energy", 0)),
        "skipped_without_bonds": len(result.manifest.get("skipped_without_bonds", [])),
        "seconds": round(result.seconds, 3),
    }
    print(json.dumps(summary))
    return 0
