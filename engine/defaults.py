"""The embedded default dataset and the default pathways computed from it.

The dataset ships with the package (``engine/data/default_clusters.extxyz``,
made by ``scripts/make_default_data.py``). The default pathways grow the
lowest-energy 5-water cluster of that dataset to 10 waters with b = 3; they
are computed on first use and cached in a folder of the caller's choosing,
keyed by a hash of the dataset and of the search settings, so a changed
dataset or setting gives a fresh computation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from engine.io import read_clusters
from engine.pathways import result_to_dict, write_pathways
from engine.reward import DEFAULT_WEIGHTS
from engine.search import Limits, RewardLookahead, Target, search

logger = logging.getLogger(__name__)

DEFAULT_DATASET = Path(__file__).parent / "data" / "default_clusters.extxyz"
DEFAULT_START_SIZE = 5
DEFAULT_TARGET_SIZE = 10
DEFAULT_BRANCHING = 3
DEFAULT_LIMITS = Limits(max_results=10, max_expansions=2000, max_seconds=120.0)


def default_pathways(cache_dir: str | Path, dataset: str | Path = DEFAULT_DATASET) -> Path:
    """Return the path of the default pathways file, computing it if it is not cached."""
    dataset = Path(dataset)
    settings = {
        "start_size": DEFAULT_START_SIZE,
        "target_size": DEFAULT_TARGET_SIZE,
        "branching": DEFAULT_BRANCHING,
        "weights": DEFAULT_WEIGHTS.to_dict(),
        "limits": DEFAULT_LIMITS.__dict__,
        "format": 1,
    }
    digest = hashlib.sha256(dataset.read_bytes() + json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"default-pathways-{digest}.json"
    if path.is_file():
        return path

    candidates = [c for c in read_clusters(dataset) if c.n_waters == DEFAULT_START_SIZE and c.water_graph.is_valid()]
    if not candidates:
        raise ValueError(f"{dataset}: no valid {DEFAULT_START_SIZE}-water cluster to start the default search from")
    start = min(candidates, key=lambda c: c.energy if c.energy is not None else float("inf"))
    logger.info("computing default pathways from %s frame %d (first start only)", dataset.name, start.frame)
    model = RewardLookahead(DEFAULT_WEIGHTS)
    target = Target(DEFAULT_TARGET_SIZE)
    result = search(start.water_graph, target, DEFAULT_BRANCHING, model, DEFAULT_WEIGHTS, DEFAULT_LIMITS)
    label = f"{dataset.name}#{start.frame}"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_pathways(result_to_dict(result, label, target, DEFAULT_BRANCHING, model.name, DEFAULT_WEIGHTS, DEFAULT_LIMITS), path)
    return path
