"""Fitting reward weights to the energies of a dataset.

The method is least squares on ``-energy`` within each cluster size: the
component values and ``-energy`` are centred on their mean per size, and one
weight vector is fitted to all sizes at once. Only the ranking within a size
matters for design, so the per-size offsets are left out and the fitted
reward reads as "kcal/mol below the size's mean energy".

The punishments are not fitted: real data hold almost no impossible bonding,
so their weights cannot be learned from it. They keep a fixed weight (1 by
default) and their contribution is removed from the target before fitting.
``wiener_index`` is not fitted by default because within one size it is
proportional to ``aspl``.

The data are split at random into a training and a held-out part (seeded);
agreement is reported for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.agreement import SizeAgreement, agreement_by_size
from engine.components import ComponentTable
from engine.errors import InputError
from engine.reward import COMPONENTS, DEFAULT_DEGREE_TARGET, DEFAULT_PUNISHMENTS, RewardWeights

#: Components fitted by default.
FIT_COMPONENTS = ("degree", "rings_3", "rings_4", "rings_5", "rings_6", "diameter", "aspl", "n_hbonds")


@dataclass
class FitResult:
    """Fitted weights and their agreement in and out of sample.

    Attributes:
        weights: The fitted weights, punishments included at their fixed weight.
        train_index: Rows of the table used for fitting.
        test_index: Held-out rows.
        train_agreement: Agreement per size on the training rows.
        test_agreement: Agreement per size on the held-out rows.
        rmse_kcal_mol: Root-mean-square error of the within-size fit on the
            held-out rows, kcal/mol.
    """

    weights: RewardWeights
    train_index: np.ndarray
    test_index: np.ndarray
    train_agreement: list[SizeAgreement]
    test_agreement: list[SizeAgreement]
    rmse_kcal_mol: float


def split_indices(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` at random into sorted training and held-out indices."""
    if not 0.0 < train_fraction < 1.0:
        raise InputError(f"train fraction must lie strictly between 0 and 1, got {train_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(train_fraction * n))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def _centre_by_size(matrix: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    centred = np.array(matrix, dtype=float, copy=True)
    for size in np.unique(sizes):
        rows = sizes == size
        centred[rows] -= centred[rows].mean(axis=0)
    return centred


def fit_weights(
    table: ComponentTable,
    rows: np.ndarray,
    components: tuple[str, ...] = FIT_COMPONENTS,
    fixed: dict[str, float] | None = None,
    degree_target: float = DEFAULT_DEGREE_TARGET,
) -> RewardWeights:
    """Fit weights of ``components`` by least squares on ``-energy`` centred per size.

    Args:
        table: Component table with energies.
        rows: Rows to fit on.
        components: Names of the fitted components.
        fixed: Components with a fixed weight, not fitted (default: the
            default punishments at 1).
        degree_target: The ``x`` of the generic degree punishments.

    Raises:
        InputError: for unknown component names, rows without energy, or
            fewer than two clusters of any size.
    """
    fixed = {name: 1.0 for name in DEFAULT_PUNISHMENTS} if fixed is None else fixed
    for name in (*components, *fixed):
        if name not in COMPONENTS:
            raise InputError(f"unknown reward component {name!r}; known components: {', '.join(COMPONENTS)}")
    energies = table.energies[rows]
    if np.isnan(energies).any():
        raise InputError("fitting needs an energy for every cluster; some clusters have none")
    sizes = table.n_waters[rows]
    matrix = table.component_matrix(degree_target)[rows]

    fitted_columns = [COMPONENTS.index(name) for name in components]
    fixed_vector = np.array([fixed.get(name, 0.0) for name in COMPONENTS])
    target = -energies - matrix @ fixed_vector

    features = _centre_by_size(matrix[:, fitted_columns], sizes)
    centred_target = _centre_by_size(target[:, None], sizes)[:, 0]
    coefficients, *_ = np.linalg.lstsq(features, centred_target, rcond=None)

    weights = dict(fixed)
    weights.update({name: float(value) for name, value in zip(components, coefficients)})
    return RewardWeights(weights, degree_target)


def fit_with_split(
    table: ComponentTable,
    train_fraction: float = 0.8,
    seed: int = 0,
    k: int = 10,
    components: tuple[str, ...] = FIT_COMPONENTS,
) -> FitResult:
    """Fit on a random training part and report agreement on both parts."""
    if len(table) < 2:
        raise InputError(f"fitting needs at least 2 clusters, the dataset has {len(table)}")
    train, test = split_indices(len(table), train_fraction, seed)
    weights = fit_weights(table, train, components)
    rewards = table.rewards(weights)

    def agreement(rows: np.ndarray) -> list[SizeAgreement]:
        return agreement_by_size(rewards[rows], table.energies[rows], table.n_waters[rows], k)

    residual = _centre_by_size((rewards + table.energies)[test][:, None], table.n_waters[test])[:, 0]
    rmse = float(np.sqrt(np.mean(residual**2))) if len(test) else float("nan")
    return FitResult(weights, train, test, agreement(train), agreement(test), rmse)
