"""Measure the test error of an average of several surrogates trained on the same split.

Every model folder must hold the same test frames (same data and split
seed). Each model predicts the whole file with
:func:`engine.surrogate.predict.predict_file`; the test MAE of each model
and of the mean prediction is reported overall and per cluster size.
Prints and writes one JSON object::

    .venv/bin/python -m benchmarks.surrogate_ensemble ../shared/data/hydronet/water_clusters_train.tfrecord.gz \\
        MODEL_DIR MODEL_DIR ... --out /tmp/surrogate_ensemble.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engine.surrogate.modeldir import ModelDirectory
from engine.surrogate.predict import predict_file


def stored_test_frames(model_dir: str) -> set[int]:
    """Return the test frames stored with a model."""
    split = ModelDirectory(model_dir).read_split()
    if split is None:
        raise SystemExit(f"error: {model_dir} has no split.json")
    return set(split["frames"]["test"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the dataset the models were trained on")
    parser.add_argument("models", nargs="+", help="model folders trained on the same split")
    parser.add_argument("--out", default="/tmp/surrogate_ensemble.json", help="JSON output file")
    args = parser.parse_args(argv)

    frames = stored_test_frames(args.models[0])
    for model in args.models[1:]:
        if stored_test_frames(model) != frames:
            raise SystemExit(
                f"error: {model} has different test frames from {args.models[0]}; "
                "train the models on the same data with the same split seed"
            )
    predictions = []
    for model in args.models:
        records = [record for record in predict_file(model, args.data) if record["frame"] in frames]
        predictions.append(np.array([record["predicted_energy"] for record in records]))
    energies = np.array([record["energy"] for record in records])
    sizes = np.array([record["n_waters"] for record in records])
    mean = np.mean(predictions, axis=0)
    result = {
        "data": args.data,
        "n_test": int(len(energies)),
        "model_mae": {model: float(np.abs(p - energies).mean()) for model, p in zip(args.models, predictions)},
        "mean_prediction_mae": float(np.abs(mean - energies).mean()),
        "mean_prediction_mae_by_size": {
            str(size): {"n_test": int((sizes == size).sum()), "mae": float(np.abs(mean - energies)[sizes == size].mean())}
            for size in sorted(set(sizes.tolist()))
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
