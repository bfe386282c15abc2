"""Spearman rho per cluster size for the default and a fitted reward, on held-out data.

Fits weights on a random part of a dataset (``engine.fitting.fit_with_split``,
seeded) and prints, per size, rho between reward and -energy for the
default preset and for the fitted weights, in-sample and held out, as one
JSON object::

    .venv/bin/python -m benchmarks.reward_agreement ../shared/data/hydronet/water_clusters_train.tfrecord.gz --seed 0
"""

from __future__ import annotations

import argparse
import json

from engine.agreement import agreement_by_size
from engine.components import compute_table
from engine.fitting import fit_with_split
from engine.io import read_clusters
from engine.reward import DEFAULT_WEIGHTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()

    table = compute_table(list(read_clusters(args.data)))
    result = fit_with_split(table, args.train_fraction, args.seed, args.top_k)
    test = result.test_index
    default = agreement_by_size(table.rewards(DEFAULT_WEIGHTS)[test], table.energies[test], table.n_waters[test], args.top_k)
    rows = {}
    for name, agreements in (("default_held_out", default), ("fitted_in_sample", result.train_agreement),
                             ("fitted_held_out", result.test_agreement)):
        for entry in agreements:
            row = rows.setdefault(entry.n_waters, {"n_waters": entry.n_waters})
            row[name] = None if entry.spearman is None else round(entry.spearman, 3)
            row[f"{name}_top_k_overlap"] = entry.top_k_overlap
            if name.endswith("held_out"):
                row["n_held_out"] = entry.n_clusters
    print(json.dumps({
        "data": args.data,
        "seed": args.seed,
        "train_fraction": args.train_fraction,
        "top_k": args.top_k,
        "held_out_rmse_kcal_mol": round(result.rmse_kcal_mol, 3),
        "fitted_weights": result.weights.to_dict(),
        "per_size": [rows[size] for size in sorted(rows)],
    }, indent=1))


if __name__ == "__main__":
    main()
