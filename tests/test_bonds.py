"""Grouping atoms into waters and the hydrogen-bond criterion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.bonds import (
    DECAY_ANGSTROM,
    HBOND_THRESHOLD,
    GroupingError,
    group_waters,
    hbond_matrix,
    hbonds_from_positions,
    water_graph_from_positions,
)
from engine.descriptors import describe
from engine.graphs import same_network
from engine.io import read_clusters
from tests.engine_fixtures import (
    MINIMA_SIZES,
    assert_same_descriptors,
    minima_path,
    read_xyz_raw,
    water_at,
    xyz_text,
)

OH_ANGSTROM = 0.9572
HOH_DEGREES = 104.52


def hand_score(r: float, theta: float) -> float:
    """The criterion's score, written out: exp(-r / 0.343) * (7.1 - 0.05 theta + 0.00021 theta^2)."""
    return math.exp(-r / 0.343) * (7.1 - 0.05 * theta + 0.00021 * theta**2)


def dimer(r: float, theta: float) -> np.ndarray:
    """Positions of a water dimer in water order: water 0 donates its first H to the O of water 1.

    The donor H sits at distance ``r`` (Angstrom) from the acceptor O on the x axis, with the
    donor O->H vector along -x. The acceptor's molecular plane has its normal at ``theta``
    degrees from the x axis, so theta of the criterion is ``theta``.
    """
    t = math.radians(theta)
    half = math.radians(HOH_DEGREES / 2)
    in_plane = np.array([-math.sin(t), math.cos(t), 0.0])
    z = np.array([0.0, 0.0, 1.0])
    acceptor_o = np.zeros(3)
    acceptor_h1 = OH_ANGSTROM * (math.cos(half) * in_plane + math.sin(half) * z)
    acceptor_h2 = OH_ANGSTROM * (math.cos(half) * in_plane - math.sin(half) * z)

    donor_h = np.array([r, 0.0, 0.0])
    donor_o = np.array([r + OH_ANGSTROM, 0.0, 0.0])
    bend = math.radians(HOH_DEGREES)
    donor_h2 = donor_o + OH_ANGSTROM * np.array([-math.cos(bend), math.sin(bend), 0.0])
    return np.stack([donor_o, donor_h, donor_h2, acceptor_o, acceptor_h1, acceptor_h2])


def measured_theta(positions: np.ndarray) -> float:
    """Angle in degrees between the donor's first O->H and the acceptor's plane normal, folded into [0, 90]."""
    oh = positions[1] - positions[0]
    normal = np.cross(positions[4] - positions[3], positions[5] - positions[3])
    cosine = abs(np.dot(oh, normal)) / (np.linalg.norm(oh) * np.linalg.norm(normal))
    return math.degrees(math.acos(min(cosine, 1.0)))


# --- the criterion on hand-built dimers ----------------------------------------


def test_dimer_geometry_as_built():
    positions = dimer(2.2, 35.0)
    # The geometry comes from trigonometry, so allow 1e-9 of rounding.
    assert np.linalg.norm(positions[1] - positions[3]) == pytest.approx(2.2, abs=1e-9)
    assert measured_theta(positions) == pytest.approx(35.0, abs=1e-9)
    assert np.linalg.norm(positions[4] - positions[3]) == pytest.approx(OH_ANGSTROM, abs=1e-9)


def test_ideal_dimer_bonded():
    positions = dimer(1.9, 0.0)
    assert hand_score(1.9, 0.0) >= HBOND_THRESHOLD
    assert hbonds_from_positions(positions) == [(0, 0, 1)]
    assert water_graph_from_positions(positions).hbonds == ((0, 1),)


def test_dimer_too_far():
    positions = dimer(2.9, 0.0)
    assert hbonds_from_positions(positions) == []


def test_dimer_too_close():
    positions = dimer(0.9, 0.0)
    # The score alone would pass, but the lower distance bound of 1 Angstrom rejects it.
    assert hand_score(0.9, 0.0) >= HBOND_THRESHOLD
    assert not hbond_matrix(positions)[0, 0, 1]
    assert (0, 1) not in water_graph_from_positions(positions).hbonds


def test_dimer_just_inside_lower_bound():
    positions = dimer(1.05, 0.0)
    assert hbond_matrix(positions)[0, 0, 1]


@pytest.mark.parametrize(("theta", "bonded"), [(10.0, True), (80.0, False)])
def test_angle_decides_near_threshold(theta, bonded):
    r = 2.2
    # At r = 2.2 the distance term alone is exp(-2.2 / 0.343) = 0.00164.
    assert (hand_score(r, theta) >= HBOND_THRESHOLD) is bonded
    positions = dimer(r, theta)
    assert bool(hbond_matrix(positions)[0, 0, 1]) is bonded


def test_hand_scores_straddle_threshold():
    # The literals have 5 significant digits.
    assert hand_score(2.2, 10.0) == pytest.approx(0.010848, rel=1e-4)
    assert hand_score(2.2, 80.0) == pytest.approx(0.0072813, rel=1e-4)
    assert DECAY_ANGSTROM == 0.343
    assert HBOND_THRESHOLD == 0.0085


def test_angle_folds_past_ninety():
    # A normal at 170 degrees is the same plane as one at 10 degrees.
    assert hbond_matrix(dimer(2.2, 170.0))[0, 0, 1]
    assert not hbond_matrix(dimer(2.2, 100.0))[0, 0, 1]


def test_water_never_bonds_itself():
    positions = dimer(1.9, 0.0)
    matrix = hbond_matrix(positions)
    assert matrix.shape == (2, 2, 2)
    assert not matrix[0, :, 0].any()
    assert not matrix[1, :, 1].any()


# --- grouping atoms into waters ------------------------------------------------


def test_group_waters_order():
    _, first = water_at((0.0, 0.0, 0.0))
    _, second = water_at((5.0, 0.0, 0.0))
    # File order: H(2nd), O(1st), H(1st), H(2nd), O(2nd), H(1st).
    positions = np.stack([second[1], first[0], first[1], second[2], second[0], first[2]])
    symbols = ["H", "O", "H", "H", "O", "H"]
    assert group_waters(symbols, positions).tolist() == [1, 2, 5, 4, 0, 3]


def test_group_waters_foreign_element():
    symbols, positions = water_at((0.0, 0.0, 0.0))
    with pytest.raises(GroupingError, match="atom 1 is 'C'"):
        group_waters(["C", "H", "H"], positions)


def test_group_waters_no_oxygen():
    with pytest.raises(GroupingError, match="no O atom"):
        group_waters(["H", "H"], np.zeros((2, 3)))


# --- real minima ---------------------------------------------------------------


@pytest.mark.parametrize("n_waters", [n for n in MINIMA_SIZES if n < 22 or n == 25])
def test_file_order_matches_grouping(n_waters):
    path = minima_path(n_waters)
    _, raw, _ = read_xyz_raw(path)
    assert water_graph_from_positions(raw) == next(read_clusters(path)).water_graph


def test_w28_file_order_disconnected():
    _, raw, _ = read_xyz_raw(minima_path(28))
    descriptors = describe(water_graph_from_positions(raw))
    assert descriptors.connected is False
    assert descriptors.diameter is None
    assert descriptors.aspl is None
    assert descriptors.wiener_index is None


def test_w28_grouped_connected():
    descriptors = describe(next(read_clusters(minima_path(28))).water_graph)
    assert descriptors.connected is True
    assert descriptors.diameter == 6
    assert descriptors.wiener_index == 1062


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A random proper rotation matrix from the QR decomposition of a Gaussian matrix."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def test_rigid_motion_and_shuffle(tmp_path):
    rng = np.random.default_rng(7)
    path = minima_path(10)
    symbols, raw, comment = read_xyz_raw(path)
    reference = next(read_clusters(path))

    moved = raw @ random_rotation(rng).T + rng.uniform(-50.0, 50.0, size=3)
    order = rng.permutation(len(symbols))
    shuffled = tmp_path / "w10_moved.xyz"
    shuffled.write_text(xyz_text([symbols[i] for i in order], moved[order], comment))
    cluster = next(read_clusters(shuffled))

    # The shuffle relabels the waters, so only an isomorphism can match the graphs.
    assert cluster.water_graph != reference.water_graph
    assert cluster.water_graph.n_hbonds == reference.water_graph.n_hbonds
    assert same_network(cluster.water_graph, reference.water_graph)
    assert_same_descriptors(describe(cluster.water_graph), describe(reference.water_graph))

