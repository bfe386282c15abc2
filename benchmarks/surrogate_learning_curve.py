"""Measure how the surrogate's test error falls with the number of training graphs.

Trains the surrogate once per training-set size with a given config, with
``split.train_limit`` set to that size, so every run keeps the same
validation and test graphs (see :func:`engine.surrogate.data.make_split`).
Each run is a ``python -m engine train`` subprocess writing to
``OUT_ROOT/limit-N``. A run whose folder already contains a finished model
is not repeated, and a stopped one resumes. Prints and writes one JSON object
with the test MAE of the model and of both baselines, overall and per size::

    .venv/bin/python -m benchmarks.surrogate_learning_curve ../shared/data/hydronet/water_clusters_train.tfrecord.gz \\
        --out-root /tmp/curve --sizes 2352 4704 9408 18816 --time-limit 22 --threads 1 --out /tmp/curve.json

The fitted exponent ``b`` of ``MAE = a * n**-b`` over the runs estimates
how many graphs a target error would need, an extrapolation outside the
measured range.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "surrogate.yaml"
BASELINES = ("model", "per_size_mean", "linear_descriptors")


def train_run(data: str, config: dict, limit: int, out_root: Path, time_limit: float, threads: int) -> dict:
    """Train (or resume) the run with ``limit`` training graphs and return its test report."""
    run_dir = out_root / f"limit-{limit}"
    config_path = out_root / f"limit-{limit}.yaml"
    limited = json.loads(json.dumps(config))
    limited.setdefault("data", {}).setdefault("split", {})["train_limit"] = limit
    config_path.write_text(yaml.safe_dump(limited, sort_keys=False))
    command = [
        sys.executable, "-m", "engine", "train", "--data", data, "--out", str(run_dir), "--config", str(config_path),
        "--time-limit", str(time_limit), "--threads", str(threads),
    ]
    print(f"training with at most {limit} graphs: {' '.join(command)}", file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=PROJECT_ROOT)
    return json.loads((run_dir / "test_report.json").read_text())


def summarise(limit: int, report: dict) -> dict:
    """Return the run's overall and per-size test MAE of the model and both baselines."""
    return {
        "train_limit": limit,
        "n_train": report["n_train"],
        "n_test": report["n_test"],
        "mae": {name: report["overall"][name]["mae"] for name in BASELINES},
        "mae_by_size": {
            str(entry["n_waters"]): {name: entry[name]["mae"] for name in BASELINES} | {"n_test": entry["n_test"]}
            for entry in report["per_size"]
        },
    }


def power_law(n_train: list[int], mae: list[float]) -> dict:
    """Fit ``log MAE = log a - b log n`` by least squares and return ``a`` and ``b``."""
    slope, intercept = np.polyfit(np.log(n_train), np.log(mae), 1)
    return {"a": float(np.exp(intercept)), "b": float(-slope)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="dataset with energies, e.g. the HydroNet TFRecord file")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="surrogate config (default: configs/surrogate.yaml)")
    parser.add_argument("--sizes", type=int, nargs="+", required=True, help="training-set sizes to run")
    parser.add_argument("--out-root", required=True, help="folder of the model folders, one per size")
    parser.add_argument("--time-limit", type=float, default=22.0, help="minutes per run (default: 22)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: 1)")
    parser.add_argument("--out", default="/tmp/surrogate_learning_curve.json", help="JSON output file")
    args = parser.parse_args(argv)

    out_root = Path(args.out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(Path(args.config).read_text()) or {}
    runs = [summarise(limit, train_run(args.data, config, limit, out_root, args.time_limit, args.threads)) for limit in args.sizes]
    n_train = [run["n_train"] for run in runs]
    result = {
        "data": args.data,
        "config": args.config,
        "runs": runs,
        "model_power_law": power_law(n_train, [run["mae"]["model"] for run in runs]) if len(runs) > 1 else None,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
