"""Test evaluation: errors of the model and of two baselines, per cluster size.

Baselines, both fitted on the training part only:

* **per-size mean**: the mean training energy of clusters with the same
  number of waters;
* **linear descriptors**: least squares of the energy on the water-graph
  reward components (:func:`engine.components.compute_table`) with one
  intercept per size.

A size missing from the training part gets an intercept from a straight-line
fit of the per-size intercepts against size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.reward import COMPONENTS
from engine.surrogate.data import GraphStore
from engine.surrogate.model import EnergyModel


@torch.no_grad()
def predict_indices(model: EnergyModel, store: GraphStore, indices: np.ndarray, batch_size: int = 1024,
                    device: torch.device | None = None) -> np.ndarray:
    """Predict the energies of some graphs of a store in evaluation mode.

    Returns:
        Energies in kcal/mol, shape ``(len(indices),)``, float64.
    """
    device = device or torch.device("cpu")
    was_training = model.training
    model.eval()
    parts = []
    for start in range(0, len(indices), batch_size):
        batch = store.batch(indices[start : start + batch_size])
        parts.append(model(batch.graph.to(device)).double().cpu().numpy())
    model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros(0)


def error_summary(true: np.ndarray, predicted: np.ndarray) -> dict:
    """MAE and RMSE in kcal/mol, with the count."""
    errors = np.asarray(predicted, dtype=float) - np.asarray(true, dtype=float)
    if len(errors) == 0:
        return {"n": 0, "mae": None, "rmse": None}
    return {"n": int(len(errors)), "mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors**2).mean()))}


def _size_intercepts(sizes: np.ndarray, values: np.ndarray, all_sizes: np.ndarray) -> dict[int, float]:
    """Mean of ``values`` per size; sizes without training data get a straight-line fit over size."""
    seen = np.unique(sizes)
    means = {int(size): float(values[sizes == size].mean()) for size in seen}
    if len(seen) >= 2:
        slope, offset = np.polyfit(seen.astype(float), [means[int(s)] for s in seen], 1)
    else:
        slope, offset = 0.0, float(values.mean())
    for size in np.unique(all_sizes):
        means.setdefault(int(size), float(slope * size + offset))
    return means


@dataclass
class PerSizeMeanBaseline:
    """Mean training energy per cluster size (kcal/mol)."""

    means: dict[int, float]

    @classmethod
    def fit(cls, sizes: np.ndarray, energies: np.ndarray, all_sizes: np.ndarray) -> PerSizeMeanBaseline:
        return cls(_size_intercepts(sizes, energies, all_sizes))

    def predict(self, sizes: np.ndarray) -> np.ndarray:
        return np.array([self.means[int(size)] for size in sizes], dtype=float)


@dataclass
class LinearDescriptorBaseline:
    """Least squares on reward components with one intercept per size.

    Attributes:
        columns: Indices of the components used (those that vary in the training part).
        centre: Training mean of each used component.
        scale: Training standard deviation of each used component.
        coefficients: kcal/mol per standardised component.
        intercepts: Intercept per size, kcal/mol.
    """

    columns: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    intercepts: dict[int, float]

    @classmethod
    def fit(cls, components: np.ndarray, sizes: np.ndarray, energies: np.ndarray, all_sizes: np.ndarray) -> LinearDescriptorBaseline:
        """Fit on the training rows: components ``(n, C)``, sizes ``(n,)``, energies ``(n,)`` kcal/mol."""
        spread = components.std(axis=0)
        columns = np.flatnonzero(spread > 1e-12)
        centre = components[:, columns].mean(axis=0)
        scale = spread[columns]
        standardised = (components[:, columns] - centre) / scale
        size_values = np.unique(sizes)
        indicators = (sizes[:, None] == size_values[None, :]).astype(float)
        design = np.concatenate([standardised, indicators], axis=1)
        solution, *_ = np.linalg.lstsq(design, energies, rcond=None)
        coefficients = solution[: len(columns)]
        fitted_intercepts = solution[len(columns) :]
        # Sizes outside the training part get an intercept from the fitted ones.
        intercepts = _size_intercepts(size_values, fitted_intercepts, all_sizes)
        return cls(columns, centre, scale, coefficients, intercepts)

    def predict(self, components: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        standardised = (components[:, self.columns] - self.centre) / self.scale
        return standardised @ self.coefficients + np.array([self.intercepts[int(size)] for size in sizes])

    def describe(self) -> dict:
        return {
            "components": [COMPONENTS[i] for i in self.columns],
            "coefficients_kcal_mol_per_std": self.coefficients.tolist(),
            "intercepts_kcal_mol": {str(size): value for size, value in sorted(self.intercepts.items())},
        }


def evaluate_test_set(model: EnergyModel, store: GraphStore, split: dict[str, np.ndarray], batch_size: int = 1024) -> dict:
    """Evaluate the model and both baselines on the test part.

    Args:
        model: Trained model (its best weights).
        store: All graphs; ``store.components`` must be set for the linear baseline.
        split: Store indices of the ``train`` and ``test`` parts.
        batch_size: Graphs per prediction batch.

    Returns:
        JSON-ready dict: overall and per-size MAE/RMSE (kcal/mol) of the
        model and the baselines, and the parity data of every test cluster.
    """
    train, test = np.asarray(split["train"]), np.asarray(split["test"])
    sizes, energies = store.n_waters, store.energies
    predicted = predict_indices(model, store, test, batch_size)

    size_mean = PerSizeMeanBaseline.fit(sizes[train], energies[train], sizes)
    baselines = {"per_size_mean": size_mean.predict(sizes[test])}
    linear = None
    if store.components is not None:
        linear = LinearDescriptorBaseline.fit(store.components[train], sizes[train], energies[train], sizes)
        baselines["linear_descriptors"] = linear.predict(store.components[test], sizes[test])

    true = energies[test]
    report = {
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "units": "kcal/mol",
        "overall": {"model": error_summary(true, predicted)},
        "per_size": [],
        "parity": [],
    }
    for name, values in baselines.items():
        report["overall"][name] = error_summary(true, values)
    for size in np.unique(sizes[test]):
        mask = sizes[test] == size
        row = {
            "n_waters": int(size),
            "n_test": int(mask.sum()),
            "n_train": int((sizes[train] == size).sum()),
            "mean_absolute_deviation": float(np.abs(true[mask] - true[mask].mean()).mean()),
            "model": error_summary(true[mask], predicted[mask]),
        }
        for name, values in baselines.items():
            row[name] = error_summary(true[mask], values[mask])
        report["per_size"].append(row)
    for k, index in enumerate(test):
        point = {"frame": int(store.frames[index]), "n_waters": int(sizes[index]), "energy": float(true[k]),
                 "predicted": float(predicted[k])}
        point.update({name: float(values[k]) for name, values in baselines.items()})
        report["parity"].append(point)
    if linear is not None:
        report["linear_descriptors_fit"] = linear.describe()
    report["per_size_mean_fit"] = {str(size): value for size, value in sorted(size_mean.means.items())}
    return report
