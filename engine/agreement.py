"""Agreement between the reward ranking and the energy ranking of clusters, per cluster size.

Lower energy is better and higher reward is better, so agreement is
measured between the reward and ``-energy``:

* Spearman's rank correlation rho within each size;
* the overlap of the top-k clusters by reward with the top-k by energy, as
  a fraction of k;
* the energy of the highest-reward cluster next to the lowest energy present.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import spearmanr

#: Minimum number of clusters of one size for which a rank correlation is reported.
MIN_CLUSTERS_FOR_CORRELATION = 3


@dataclass(frozen=True)
class SizeAgreement:
    """Agreement between reward and energy for the clusters of one size.

    Attributes:
        n_waters: The cluster size.
        n_clusters: Clusters of this size with a known energy.
        spearman: Spearman's rho between reward and -energy, or None (see ``note``).
        top_k: The k used for the overlap (at most ``n_clusters``).
        top_k_overlap: Fraction of the top-k by reward that are in the top-k by energy.
        best_reward_energy: Energy of the highest-reward cluster, kcal/mol.
        lowest_energy: Lowest energy among these clusters, kcal/mol.
        note: Why a value is missing, or an empty string.
    """

    n_waters: int
    n_clusters: int
    spearman: float | None
    top_k: int
    top_k_overlap: float | None
    best_reward_energy: float | None
    lowest_energy: float | None
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class NoEnergiesError(ValueError):
    """Raised when agreement is requested for clusters without energies."""


def agreement_by_size(rewards: np.ndarray, energies: np.ndarray, sizes: np.ndarray, k: int = 10) -> list[SizeAgreement]:
    """Measure agreement for every cluster size present.

    Args:
        rewards: Reward per cluster, shape ``(n,)``.
        energies: Energy per cluster in kcal/mol, NaN where unknown, shape ``(n,)``.
        sizes: Number of waters per cluster, shape ``(n,)``.
        k: Size of the top sets compared, at least 1.

    Returns:
        One entry per size, in increasing size.

    Raises:
        NoEnergiesError: when no cluster has an energy.
        ValueError: when ``k`` is below 1 or the arrays differ in length.
    """
    if k < 1:
        raise ValueError(f"top-k needs k >= 1, got {k}")
    if not (len(rewards) == len(energies) == len(sizes)):
        raise ValueError("rewards, energies and sizes must have the same length")
    known = ~np.isnan(energies)
    if not known.any():
        raise NoEnergiesError("agreement needs cluster energies, and this dataset has none; the reward is still computed")
    results = []
    for size in np.unique(sizes[known]):
        mask = known & (sizes == size)
        results.append(_one_size(int(size), rewards[mask], energies[mask], k))
    return results


def _one_size(size: int, rewards: np.ndarray, energies: np.ndarray, k: int) -> SizeAgreement:
    n = len(rewards)
    top_k = min(k, n)
    by_reward = np.argsort(-rewards, kind="stable")
    by_energy = np.argsort(energies, kind="stable")
    overlap = len(set(by_reward[:top_k]) & set(by_energy[:top_k])) / top_k
    best_energy = float(energies[by_reward[0]])
    lowest = float(energies.min())

    note = ""
    rho: float | None = None
    if n < MIN_CLUSTERS_FOR_CORRELATION:
        note = f"only {n} cluster(s) of this size: a rank correlation needs at least {MIN_CLUSTERS_FOR_CORRELATION}"
    elif np.ptp(rewards) == 0:
        note = "every cluster of this size has the same reward: no rank correlation"
    elif np.ptp(energies) == 0:
        note = "every cluster of this size has the same energy: no rank correlation"
    else:
        rho = float(spearmanr(rewards, -energies).statistic)
        if not math.isfinite(rho):
            rho, note = None, "rank correlation is undefined for these values"
    return SizeAgreement(size, n, rho, top_k, overlap, best_energy, lowest, note)
