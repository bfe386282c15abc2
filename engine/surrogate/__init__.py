"""Surrogate energy model: an MPNN on atomic graphs that predicts cluster energies (kcal/mol).

Modules:

* :mod:`~engine.surrogate.model`: the network (DGL message passing).
* :mod:`~engine.surrogate.plain`: the same graph operations in plain PyTorch.
* :mod:`~engine.surrogate.data`: conversion and caching of datasets, split, loader.
* :mod:`~engine.surrogate.train`: training, single process or data-parallel.
* :mod:`~engine.surrogate.distributed`: process-group set-up (torchrun, Slurm, Horovod).
* :mod:`~engine.surrogate.evaluation`: test errors and the two baselines.
* :mod:`~engine.surrogate.predict`: prediction from a model directory.
* :mod:`~engine.surrogate.cli`: the ``train``, ``predict`` and ``convert`` subcommands.

The package imports torch and DGL only when one of these names is used, so
``python -m engine`` starts quickly for the other subcommands.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "load_model": "engine.surrogate.predict",
    "predict_water_graphs": "engine.surrogate.predict",
    "predict_atomic_graphs": "engine.surrogate.predict",
    "train": "engine.surrogate.train",
    "TrainRequest": "engine.surrogate.train",
    "load_config": "engine.surrogate.config",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
