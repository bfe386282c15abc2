"""Waters and hydrogen bonds from atomic coordinates.

The hydrogen-bond criterion is the one of the public HydroNet code, after
Kumar, Schmidt & Skinner, J. Chem. Phys. 126, 204107 (2007). For a hydrogen H
of water d and the oxygen O_a of another water a, with r = |H - O_a| in
Angstrom and theta the angle in degrees between d's O->H vector and the normal
of water a's molecular plane, folded into [0, 90], there is a bond d -> a when

    1 < r < 2.8   and   exp(-r / 0.343) * (7.1 - 0.05 theta + 0.00021 theta^2) >= 0.0085.
"""

from __future__ import annotations

import numpy as np

from engine.graphs import WaterGraph

#: Lower and upper bound on the H...O distance of a hydrogen bond, Angstrom.
MIN_HBOND_ANGSTROM = 1.0
MAX_HBOND_ANGSTROM = 2.8
#: Decay length of the distance term, Angstrom.
DECAY_ANGSTROM = 0.343
#: Threshold on the combined distance and angle score.
HBOND_THRESHOLD = 0.0085
#: An H further than this from every O cannot belong to a water, Angstrom.
MAX_COVALENT_ANGSTROM = 1.3
#: An H closer than this to its O overlaps it, Angstrom.
MIN_COVALENT_ANGSTROM = 0.5


class GroupingError(ValueError):
    """Raised when atoms cannot be grouped into H2O molecules."""


def group_waters(symbols: list[str], positions: np.ndarray) -> np.ndarray:
    """Order the atoms of a cluster as waters: each O followed by its two nearest H.

    Args:
        symbols: Element symbols, ``"O"`` or ``"H"``, one per atom.
        positions: Coordinates in Angstrom, shape ``(n_atoms, 3)``.

    Returns:
        Atom indices in water order (O, H, H, O, H, H, ...), shape ``(n_atoms,)``;
        waters follow the order of their O atoms in the input.

    Raises:
        GroupingError: if an element is neither O nor H, the counts are not
            2 H per O, an H is further than 1.3 Angstrom from every O, or
            an O does not end up with exactly two H atoms.
    """
    symbols = list(symbols)
    for index, symbol in enumerate(symbols):
        if symbol not in ("O", "H"):
            raise GroupingError(f"atom {index + 1} is {symbol!r}; only O and H are allowed in a water cluster")
    oxygens = np.array([i for i, s in enumerate(symbols) if s == "O"], dtype=np.int64)
    hydrogens = np.array([i for i, s in enumerate(symbols) if s == "H"], dtype=np.int64)
    if len(oxygens) == 0:
        raise GroupingError("the cluster has no O atom")
    if len(hydrogens) != 2 * len(oxygens):
        raise GroupingError(f"{len(oxygens)} O and {len(hydrogens)} H atoms: a water cluster needs 2 H per O")

    distances = np.linalg.norm(positions[hydrogens, None, :] - positions[None, oxygens, :], axis=-1)
    nearest = np.argmin(distances, axis=1)
    nearest_distance = distances[np.arange(len(hydrogens)), nearest]
    far = np.flatnonzero(nearest_distance > MAX_COVALENT_ANGSTROM)
    if len(far):
        h = hydrogens[far[0]]
        raise GroupingError(
            f"H atom {h + 1} is {nearest_distance[far[0]]:.2f} Angstrom from the nearest O "
            f"(more than {MAX_COVALENT_ANGSTROM}): it cannot be assigned to a water"
        )
    close = np.flatnonzero(nearest_distance < MIN_COVALENT_ANGSTROM)
    if len(close):
        h = hydrogens[close[0]]
        raise GroupingError(
            f"H atom {h + 1} is {nearest_distance[close[0]]:.2f} Angstrom from the nearest O "
            f"(less than {MIN_COVALENT_ANGSTROM}): the atoms overlap"
        )
    counts = np.bincount(nearest, minlength=len(oxygens))
    wrong = np.flatnonzero(counts != 2)
    if len(wrong):
        o = oxygens[wrong[0]]
        raise GroupingError(
            f"O atom {o + 1} has {counts[wrong[0]]} nearest H atoms instead of 2: "
            "the H atoms cannot be assigned to waters"
        )

    order = np.empty(3 * len(oxygens), dtype=np.int64)
    order[0::3] = oxygens
    by_oxygen = np.argsort(nearest, kind="stable")
    order[1::3] = hydrogens[by_oxygen[0::2]]
    order[2::3] = hydrogens[by_oxygen[1::2]]
    return order


def hbond_matrix(positions: np.ndarray) -> np.ndarray:
    """Evaluate the hydrogen-bond criterion for every H and every other water.

    Args:
        positions: Coordinates in Angstrom in water order (O, H, H, ...),
            shape ``(3 * n_waters, 3)``.

    Returns:
        Boolean array of shape ``(n_waters, 2, n_waters)``: entry ``[d, k, a]``
        is True when hydrogen ``k`` of water ``d`` donates a bond to water ``a``.
    """
    waters = positions.reshape(-1, 3, 3)
    n_waters = len(waters)
    oxygen = waters[:, 0]
    hydrogen = waters[:, 1:]

    # Unit normal of each water's plane, shape (n, 3). A linear water has no plane:
    # its normal is NaN and it accepts no bond.
    normal = np.cross(waters[:, 1] - oxygen, waters[:, 2] - oxygen)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)

    # Unit O->H vectors of each donor, shape (n, 2, 3).
    oh = hydrogen - oxygen[:, None, :]
    oh /= np.linalg.norm(oh, axis=2, keepdims=True)

    # Distance from each H (d, k) to each acceptor O (a), shape (n, 2, n).
    r = np.linalg.norm(hydrogen[:, :, None, :] - oxygen[None, None, :, :], axis=-1)

    # Angle between donor O->H and acceptor normal, folded into [0, 90] degrees.
    cosine = np.abs(np.einsum("dkx,ax->dka", oh, normal))
    theta = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))

    score = np.exp(-r / DECAY_ANGSTROM) * (7.1 - 0.05 * theta + 0.00021 * theta**2)
    with np.errstate(invalid="ignore"):
        bonded = (r > MIN_HBOND_ANGSTROM) & (r < MAX_HBOND_ANGSTROM) & (score >= HBOND_THRESHOLD)
    bonded[np.arange(n_waters), :, np.arange(n_waters)] = False
    return bonded


def hbonds_from_positions(positions: np.ndarray) -> list[tuple[int, int, int]]:
    """List hydrogen bonds as ``(donor water, donor H index 0 or 1, acceptor water)``."""
    donors, slots, acceptors = np.nonzero(hbond_matrix(positions))
    return list(zip(donors.tolist(), slots.tolist(), acceptors.tolist()))


def water_graph_from_positions(positions: np.ndarray) -> WaterGraph:
    """Build the water graph of a cluster whose atoms are in water order."""
    bonds = hbonds_from_positions(positions)
    return WaterGraph(len(positions) // 3, tuple((d, a) for d, _, a in bonds))
