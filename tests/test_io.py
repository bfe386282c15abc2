"""Readers: the HydroNet records, the minima files, write-then-read round trips and bad input."""

from __future__ import annotations

import gzip
from collections import Counter

import ase.db
import ase.io
import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

from engine.errors import ClusterFormatError, InputError
from engine.graphs import COVALENT, HYDROGEN, HYDROGEN_BOND, OXYGEN
from engine.io import detect_format, read_clusters
from engine.io import tfrecord
from tests.engine_fixtures import (
    MINIMA_SIZES,
    TFRECORD_PATH,
    first_records,
    frame_record,
    hydronet_clusters,  # noqa: F401 (fixture)
    masked_crc32c,
    minima_path,
    read_xyz_raw,
    require_file,
    water_at,
    xyz_text,
)

# Reference values of the HydroNet training file, measured with this engine.
N_RECORDS = 23520
#: Number of clusters of 3, 4, ..., 11 waters.
SIZE_COUNTS = [2, 9, 13, 69, 324, 421, 2967, 8285, 11430]
#: Energies are float32 in the file, so these are exact float32 values, kcal/mol.
MIN_ENERGY = -99.99977111816406
MAX_ENERGY = -8.857598304748535
N_DIRECTED_BONDS = 1675574
N_STORED_TYPES_WRONG = 806350
N_HYDROGEN_BONDS = 354907


def two_waters() -> tuple[list[str], np.ndarray]:
    """Two waters 4 Angstrom apart (no hydrogen bond), atoms in O, H, H order."""
    symbols_a, positions_a = water_at((0.0, 0.0, 0.0))
    symbols_b, positions_b = water_at((4.0, 0.0, 0.0))
    return symbols_a + symbols_b, np.concatenate([positions_a, positions_b])


def write_two_waters(path, comment: str = "-1.5") -> None:
    symbols, positions = two_waters()
    path.write_text(xyz_text(symbols, positions, comment))


def read_error(path) -> ClusterFormatError:
    """Read ``path`` to the end and return the ClusterFormatError it raises."""
    with pytest.raises(ClusterFormatError) as caught:
        list(read_clusters(path))
    return caught.value


# --- HydroNet TFRecord file --------------------------------------------------


def test_tfrecord_all_records_load(hydronet_clusters):
    assert len(hydronet_clusters) == N_RECORDS
    assert [c.frame for c in hydronet_clusters] == list(range(N_RECORDS))


def test_tfrecord_size_counts(hydronet_clusters):
    counts = Counter(c.n_waters for c in hydronet_clusters)
    assert min(counts) == 3
    assert max(counts) == 11
    assert [counts[n] for n in range(3, 12)] == SIZE_COUNTS


def test_tfrecord_energies_finite(hydronet_clusters):
    energies = np.array([c.energy for c in hydronet_clusters], dtype=float)
    assert np.isfinite(energies).all()
    assert energies.min() == MIN_ENERGY
    assert energies.max() == MAX_ENERGY


def test_tfrecord_graph_only_records(hydronet_clusters):
    assert all(c.positions is None for c in hydronet_clusters)
    assert all(c.source == str(TFRECORD_PATH) for c in hydronet_clusters)


def test_tfrecord_validity_problem_counts(hydronet_clusters):
    repeated_pair = []
    accepts_three = []
    for cluster in hydronet_clusters:
        graph = cluster.water_graph
        pairs = Counter((min(d, a), max(d, a)) for d, a in graph.hbonds)
        if max(pairs.values(), default=0) > 1:
            repeated_pair.append(cluster)
        if graph.in_degrees().max() > 2:
            accepts_three.append(cluster)
    invalid = [c for c in hydronet_clusters if c.water_graph.validity_problems()]

    assert len(repeated_pair) == 16
    assert len(accepts_three) == 1295
    # 1302 waters in those 1295 graphs accept 3 bonds, and no water accepts more.
    assert sum(int((c.water_graph.in_degrees() == 3).sum()) for c in accepts_three) == 1302
    assert max(int(c.water_graph.in_degrees().max()) for c in hydronet_clusters) == 3
    assert len(invalid) == len(repeated_pair) + len(accepts_three)
    assert all(c.water_graph.out_degrees().max() <= 2 for c in hydronet_clusters)


def test_tfrecord_problems_name_waters(hydronet_clusters):
    # Frame 2137 bonds waters 0 and 1 in both directions.
    problems = hydronet_clusters[2137].water_graph.validity_problems()
    assert problems == ["waters 0 and 1 share 2 hydrogen bonds (at most 1)"]


def test_tfrecord_stored_types_misaligned():
    total = 0
    wrong = 0
    for _, payload in tfrecord.iter_records(require_file(TFRECORD_PATH)):
        example = tfrecord.Example()
        example.ParseFromString(payload)
        features = example.features.feature
        stored = np.array(features["bond"].int64_list.value)
        pairs = np.array(features["connectivity"].int64_list.value).reshape(-1, 2)
        same_water_rule = np.where(pairs[:, 0] // 3 == pairs[:, 1] // 3, COVALENT, HYDROGEN_BOND)
        total += len(stored)
        wrong += int(np.count_nonzero(stored != same_water_rule))
    assert total == N_DIRECTED_BONDS
    assert wrong == N_STORED_TYPES_WRONG
    assert round(100 * wrong / total) == 48


def test_tfrecord_types_follow_same_water(hydronet_clusters):
    mismatches = 0
    for cluster in hydronet_clusters:
        bonds = cluster.atomic_graph.bonds
        expected = np.where(bonds[:, 0] // 3 == bonds[:, 1] // 3, COVALENT, HYDROGEN_BOND)
        mismatches += int(np.count_nonzero(cluster.atomic_graph.bond_types != expected))
    assert mismatches == 0


def test_tfrecord_bond_totals(hydronet_clusters):
    n_bonds = sum(len(c.atomic_graph.bonds) for c in hydronet_clusters)
    n_hbonds = sum(c.water_graph.n_hbonds for c in hydronet_clusters)
    # The reader keeps each undirected bond once, but the file stores both directions.
    assert 2 * n_bonds == N_DIRECTED_BONDS
    assert n_hbonds == N_HYDROGEN_BONDS


def test_tfrecord_hbonds_are_h_to_o(hydronet_clusters):
    wrong = 0
    for cluster in hydronet_clusters:
        graph = cluster.atomic_graph
        hbonds = graph.bonds[graph.bond_types == HYDROGEN_BOND]
        ends = graph.elements[hbonds]
        wrong += int(np.count_nonzero((ends[:, 0] != HYDROGEN) | (ends[:, 1] != OXYGEN)))
    assert wrong == 0


def test_tfrecord_copy_reads_same(tmp_path, hydronet_clusters):
    records = first_records(3)
    plain = tmp_path / "three.tfrecord"
    plain.write_bytes(b"".join(records))
    packed = tmp_path / "three.tfrecord.gz"
    packed.write_bytes(gzip.compress(b"".join(records)))

    for path in (plain, packed):
        clusters = list(read_clusters(path))
        assert [c.water_graph for c in clusters] == [c.water_graph for c in hydronet_clusters[:3]]
        assert [c.energy for c in clusters] == [c.energy for c in hydronet_clusters[:3]]


def test_tfrecord_corrupt_length(tmp_path):
    records = first_records(3)
    corrupt = bytearray(records[1])
    corrupt[0] ^= 0x01
    path = tmp_path / "corrupt.tfrecord"
    path.write_bytes(records[0] + bytes(corrupt) + records[2])

    error = read_error(path)
    assert error.frame == 1
    assert str(path) in str(error)
    assert "frame 1" in str(error)
    assert "corrupt record length" in str(error)


def test_tfrecord_huge_length(tmp_path):
    # A length of 2**40 bytes with a matching CRC must be rejected before reading.
    length = (1 << 40).to_bytes(8, "little")
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(first_records(1)[0] + length + masked_crc32c(length).to_bytes(4, "little"))
    error = read_error(path)
    assert error.frame == 1
    assert "implausibly large" in str(error)


def test_tfrecord_truncated_record(tmp_path):
    records = first_records(3)
    path = tmp_path / "truncated.tfrecord"
    path.write_bytes(b"".join(records)[:-10])

    error = read_error(path)
    assert error.frame == 2
    assert str(path) in str(error)
    assert "truncated record" in str(error)


def test_tfrecord_truncated_header(tmp_path):
    path = tmp_path / "header.tfrecord"
    path.write_bytes(first_records(1)[0] + b"\x01\x02\x03")
    error = read_error(path)
    assert error.frame == 1
    assert "truncated record header (3 of 12 bytes)" in str(error)


def test_tfrecord_corrupt_data(tmp_path):
    record = bytearray(first_records(1)[0])
    record[20] ^= 0xFF
    path = tmp_path / "data.tfrecord"
    path.write_bytes(bytes(record))
    error = read_error(path)
    assert error.frame == 0
    assert "corrupt record data" in str(error)


def test_tfrecord_missing_feature(tmp_path):
    example = tfrecord.Example()
    example.ParseFromString(first_records(1)[0][12:-4])
    del example.features.feature["atom"]
    path = tmp_path / "missing.tfrecord"
    path.write_bytes(frame_record(example.SerializeToString()))

    error = read_error(path)
    assert error.frame == 0
    assert str(path) in str(error)
    assert "feature 'atom' is missing" in str(error)


def test_tfrecord_bad_connectivity(tmp_path):
    example = tfrecord.Example()
    example.ParseFromString(first_records(1)[0][12:-4])
    connectivity = example.features.feature["connectivity"].int64_list.value
    connectivity[0] = 999
    path = tmp_path / "index.tfrecord"
    path.write_bytes(frame_record(example.SerializeToString()))

    error = read_error(path)
    assert "connectivity refers to atoms outside" in str(error)


def test_tfrecord_atoms_out_of_order(tmp_path):
    example = tfrecord.Example()
    example.ParseFromString(first_records(1)[0][12:-4])
    example.features.feature["atom"].int64_list.value[0] = 1
    path = tmp_path / "order.tfrecord"
    path.write_bytes(frame_record(example.SerializeToString()))

    error = read_error(path)
    assert error.frame == 0
    assert str(path) in str(error)
    assert "not in water order" in str(error)


def test_tfrecord_empty_file(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    error = read_error(path)
    assert str(path) in str(error)
    assert "no records" in str(error)


def test_tfrecord_broken_gzip(tmp_path):
    packed = gzip.compress(b"".join(first_records(3)))
    path = tmp_path / "broken.tfrecord.gz"
    path.write_bytes(packed[: len(packed) // 2])
    error = read_error(path)
    assert str(path) in str(error)
    assert "cannot decompress" in str(error)


# --- minima files ------------------------------------------------------------


@pytest.mark.parametrize("n_waters", MINIMA_SIZES)
def test_minima_read(n_waters):
    path = minima_path(n_waters)
    clusters = list(read_clusters(path))
    _, _, comment = read_xyz_raw(path)

    assert len(clusters) == 1
    assert clusters[0].n_waters == n_waters
    assert clusters[0].frame == 0
    assert clusters[0].energy == float(comment.split()[0])
    assert clusters[0].positions.shape == (3 * n_waters, 3)


@pytest.mark.parametrize("n_waters", MINIMA_SIZES)
def test_minima_oh_within_limit(n_waters):
    cluster = next(read_clusters(minima_path(n_waters)))
    waters = cluster.positions.reshape(-1, 3, 3)
    oh = np.linalg.norm(waters[:, 1:] - waters[:, :1], axis=2)
    assert oh.shape == (n_waters, 2)
    assert oh.max() < 1.3
    # Every H belongs to exactly one water: the grouping is a permutation of the file's atoms.
    _, raw, _ = read_xyz_raw(minima_path(n_waters))
    assert sorted(map(tuple, cluster.positions.tolist())) == sorted(map(tuple, raw.tolist()))


#: Files whose atoms are O, H, H by symbol but whose H atoms do not follow their own O.
SCRAMBLED_FILE_ORDER = {22, 23, 24, 26, 27, 28, 29, 30}


@pytest.mark.parametrize("n_waters", MINIMA_SIZES)
def test_minima_file_order(n_waters):
    symbols, raw, _ = read_xyz_raw(minima_path(n_waters))
    waters = raw.reshape(-1, 3, 3)
    far = int(np.count_nonzero(np.linalg.norm(waters[:, 1:] - waters[:, :1], axis=2) > 1.3))
    assert symbols == ["O", "H", "H"] * n_waters
    if n_waters in SCRAMBLED_FILE_ORDER:
        assert far > 0
    else:
        assert far == 0


# --- write-then-read round trips ---------------------------------------------


def test_xyz_round_trip(tmp_path):
    originals = [next(read_clusters(minima_path(n))) for n in (5, 6)]
    path = tmp_path / "two.xyz"
    path.write_text(
        "".join(xyz_text(["O", "H", "H"] * c.n_waters, c.positions, f"{c.energy!r}") for c in originals)
    )
    clusters = list(read_clusters(path))

    assert [c.frame for c in clusters] == [0, 1]
    assert [c.energy for c in clusters] == [c.energy for c in originals]
    assert [c.water_graph for c in clusters] == [c.water_graph for c in originals]
    for cluster, original in zip(clusters, originals):
        # The writer keeps 10 decimals.
        np.testing.assert_allclose(cluster.positions, original.positions, rtol=0, atol=1e-9)


def test_xyz_frames_without_energy(tmp_path):
    symbols, positions = two_waters()
    path = tmp_path / "blank.xyz"
    path.write_text(xyz_text(symbols, positions, "") + "\n\n" + xyz_text(symbols, positions, "   "))
    clusters = list(read_clusters(path))
    assert [c.energy for c in clusters] == [None, None]
    assert [c.n_waters for c in clusters] == [2, 2]


def test_extxyz_round_trip(tmp_path):
    original = next(read_clusters(minima_path(6)))
    path = tmp_path / "one.extxyz"
    comment = f'Properties=species:S:1:pos:R:3 energy={original.energy!r} pbc="F F F"'
    path.write_text(xyz_text(["O", "H", "H"] * 6, original.positions, comment))
    cluster = next(read_clusters(path))

    assert cluster.energy == original.energy
    assert cluster.water_graph == original.water_graph


def test_extxyz_without_energy_key(tmp_path):
    path = tmp_path / "none.extxyz"
    write_two_waters(path, 'Properties=species:S:1:pos:R:3 pbc="F F F"')
    assert next(read_clusters(path)).energy is None


def test_extxyz_from_ase_write(tmp_path):
    atoms = ase.io.read(minima_path(5))
    atoms.info = {"energy": -36.8050499}
    path = tmp_path / "ase.extxyz"
    ase.io.write(path, atoms, format="extxyz")
    cluster = next(read_clusters(path))

    # The engine reads energy= as kcal/mol, with no unit conversion.
    assert cluster.energy == -36.8050499
    assert cluster.water_graph == next(read_clusters(minima_path(5))).water_graph


def test_ase_db_round_trip(tmp_path):
    atoms = ase.io.read(minima_path(5))
    with_key = atoms.copy()
    with_calc = atoms.copy()
    with_calc.calc = SinglePointCalculator(with_calc, energy=-1.5)
    bare = atoms.copy()
    path = tmp_path / "x.db"
    database = ase.db.connect(path)
    database.write(with_key, energy_kcal_mol=-36.8050499)
    database.write(with_calc)
    database.write(bare)

    clusters = list(read_clusters(path))
    reference = next(read_clusters(minima_path(5)))
    assert [c.frame for c in clusters] == [0, 1, 2]
    assert clusters[0].energy == -36.8050499
    # -1.5 eV in kcal/mol. The engine multiplies by 1 / c, which may differ from x / c in the last bit.
    assert clusters[1].energy == pytest.approx(-1.5 / (units.kcal / units.mol), rel=1e-12)
    # The literal has 12 significant digits.
    assert clusters[1].energy == pytest.approx(-34.5908220181, rel=1e-10)
    assert clusters[2].energy is None
    assert all(c.water_graph == reference.water_graph for c in clusters)


def test_ase_db_key_wins_over_calc(tmp_path):
    atoms = ase.io.read(minima_path(4))
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
    path = tmp_path / "both.db"
    ase.db.connect(path).write(atoms, energy_kcal_mol=-27.5)
    assert next(read_clusters(path)).energy == -27.5


@pytest.mark.parametrize("energy", ["low", float("nan"), float("inf")])
def test_ase_db_bad_energy(tmp_path, energy):
    path = tmp_path / "energy.db"
    ase.db.connect(path).write(ase.io.read(minima_path(3)), energy_kcal_mol=energy)
    error = read_error(path)
    assert error.frame == 0
    assert str(path) in str(error)
    assert "is not a finite number" in str(error)


def test_ase_db_without_rows(tmp_path):
    path = tmp_path / "empty.db"
    database = ase.db.connect(path)
    database.write(Atoms("H2O", positions=[[0, 0, 0], [0, 0, 1], [0, 0, -0.2]]))
    database.delete([1])
    error = read_error(path)
    assert str(path) in str(error)
    assert "no rows" in str(error)


# --- bad input -----------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.xyz"
    path.write_text("")
    error = read_error(path)
    assert str(path) in str(error)
    assert "empty" in str(error)


def test_whitespace_only_file(tmp_path):
    path = tmp_path / "blank.xyz"
    path.write_text("\n   \n\t\n")
    error = read_error(path)
    assert "empty" in str(error)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.xyz"
    error = read_error(path)
    assert str(path) in str(error)
    assert "not found" in str(error)


def test_truncated_frame(tmp_path):
    symbols, positions = two_waters()
    text = xyz_text(symbols, positions, "-1.0") + xyz_text(symbols, positions, "-2.0")
    path = tmp_path / "truncated.xyz"
    path.write_text("\n".join(text.splitlines()[:-2]) + "\n")

    error = read_error(path)
    assert isinstance(error, InputError)
    assert error.frame == 1
    # Frame 1 starts on line 9 and its atom lines are 11..16, but the file ends after line 14.
    assert error.line == 15
    assert f"{path}, frame 1, line 15" in str(error)
    assert "truncated frame" in str(error)


def test_missing_comment_line(tmp_path):
    path = tmp_path / "nocomment.xyz"
    path.write_text("6\n")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 1)
    assert "comment line is missing" in str(error)


def test_atom_count_too_large(tmp_path):
    symbols, positions = two_waters()
    frame = xyz_text(symbols, positions, "-1.0")
    path = tmp_path / "large.xyz"
    path.write_text(frame.replace("6\n", "7\n", 1) + frame)

    error = read_error(path)
    # Atom line 7 of frame 0 would be line 9, which is the next frame's count.
    assert (error.frame, error.line) == (0, 9)
    assert f"{path}, frame 0, line 9" in str(error)
    assert "the atom count says 7 atoms" in str(error)


def test_atom_count_too_large_last(tmp_path):
    path = tmp_path / "large.xyz"
    write_two_waters(path)
    path.write_text(path.read_text().replace("6\n", "8\n", 1))
    error = read_error(path)
    assert (error.frame, error.line) == (0, 9)
    assert "says 8 atoms but only 6 atom lines follow" in str(error)


def test_atom_count_too_small(tmp_path):
    path = tmp_path / "small.xyz"
    write_two_waters(path)
    path.write_text(path.read_text().replace("6\n", "5\n", 1))
    error = read_error(path)
    assert (error.frame, error.line) == (0, 1)
    assert f"{path}, frame 0, line 1" in str(error)
    assert "atom count 5 does not match" in str(error)


def test_atom_count_not_number(tmp_path):
    path = tmp_path / "count.xyz"
    path.write_text("six\n-1.0\nO 0 0 0\n")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 1)
    assert "expected an atom count, found 'six'" in str(error)


def test_atom_count_zero(tmp_path):
    path = tmp_path / "zero.xyz"
    path.write_text("0\n-1.0\n")
    error = read_error(path)
    assert "atom count must be positive" in str(error)


def test_short_atom_line(tmp_path):
    path = tmp_path / "short.xyz"
    write_two_waters(path)
    lines = path.read_text().splitlines()
    lines[3] = "H 0.5 0.5"
    path.write_text("\n".join(lines) + "\n")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 4)
    assert "expected 'symbol x y z'" in str(error)


def test_foreign_element(tmp_path):
    symbols, positions = two_waters()
    symbols[4] = "N"
    path = tmp_path / "nitrogen.xyz"
    path.write_text(xyz_text(symbols, positions, "-1.0"))
    error = read_error(path)
    assert (error.frame, error.line) == (0, 1)
    assert str(path) in str(error)
    assert "atom 5 is 'N'" in str(error)


def test_wrong_hydrogen_count(tmp_path):
    symbols, positions = two_waters()
    path = tmp_path / "count.xyz"
    path.write_text(xyz_text(symbols[:5], positions[:5], "-1.0"))
    error = read_error(path)
    assert "2 O and 3 H atoms" in str(error)


def test_hydrogen_far_away(tmp_path):
    symbols, positions = two_waters()
    positions[5] = [10.0, 10.0, 10.0]
    path = tmp_path / "far.xyz"
    path.write_text(xyz_text(symbols, positions, "-1.0"))
    error = read_error(path)
    assert (error.frame, error.line) == (0, 1)
    assert str(path) in str(error)
    assert "H atom 6 is" in str(error)
    assert "cannot be assigned to a water" in str(error)


def test_oxygen_with_three_hydrogens(tmp_path):
    symbols, positions = two_waters()
    # H 6 moves from the second water to 1 Angstrom below the first O.
    positions[5] = [0.0, -1.0, 0.0]
    path = tmp_path / "three.xyz"
    path.write_text(xyz_text(symbols, positions, "-1.0"))
    error = read_error(path)
    assert (error.frame, error.line) == (0, 1)
    assert "O atom 1 has 3 nearest H atoms instead of 2" in str(error)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_non_finite_coordinate(tmp_path, value):
    path = tmp_path / "nan.xyz"
    write_two_waters(path)
    lines = path.read_text().splitlines()
    lines[4] = f"H {value} 0.0 0.0"
    path.write_text("\n".join(lines) + "\n")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 5)
    assert f"{path}, frame 0, line 5" in str(error)
    assert "not a finite number" in str(error)


def test_non_numeric_coordinate(tmp_path):
    path = tmp_path / "text.xyz"
    write_two_waters(path)
    lines = path.read_text().splitlines()
    lines[6] = "H 4.0 one 0.0"
    path.write_text("\n".join(lines) + "\n")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 7)
    assert "coordinate 'one' is not a number" in str(error)


def test_non_numeric_energy(tmp_path):
    path = tmp_path / "energy.xyz"
    write_two_waters(path, "-1.5kcal")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 2)
    assert f"{path}, frame 0, line 2" in str(error)
    assert "energy '-1.5kcal' is not a number" in str(error)


def test_non_finite_energy(tmp_path):
    path = tmp_path / "energy.xyz"
    write_two_waters(path, "nan")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 2)
    assert "not a finite number" in str(error)


def test_extxyz_non_numeric_energy(tmp_path):
    path = tmp_path / "energy.extxyz"
    write_two_waters(path, "energy=low Properties=species:S:1:pos:R:3")
    error = read_error(path)
    assert (error.frame, error.line) == (0, 2)
    assert "energy 'low' is not a number" in str(error)


def test_extxyz_unbalanced_quote(tmp_path):
    path = tmp_path / "quote.extxyz"
    write_two_waters(path, 'energy=-1.0 pbc="F F F')
    error = read_error(path)
    assert (error.frame, error.line) == (0, 2)
    assert "unreadable extended-xyz comment line" in str(error)


def test_error_in_second_frame(tmp_path):
    symbols, positions = two_waters()
    path = tmp_path / "second.xyz"
    path.write_text(xyz_text(symbols, positions, "-1.0") + xyz_text(symbols, positions, "bad"))
    clusters = []
    with pytest.raises(ClusterFormatError) as caught:
        for cluster in read_clusters(path):
            clusters.append(cluster)
    assert len(clusters) == 1
    assert (caught.value.frame, caught.value.line) == (1, 10)


def test_binary_garbage(tmp_path):
    rng = np.random.default_rng(20240601)
    path = tmp_path / "garbage.xyz"
    path.write_bytes(rng.bytes(4096))
    error = read_error(path)
    assert str(path) in str(error)
    assert "not a text file" in str(error)


def test_nul_bytes(tmp_path):
    path = tmp_path / "nul.xyz"
    path.write_bytes(b"6\n-1.0\nO 0 0 0\x00\n")
    error = read_error(path)
    assert "NUL bytes" in str(error)


def test_not_a_database(tmp_path):
    path = tmp_path / "text.db"
    path.write_text("this is not sqlite\n")
    error = read_error(path)
    assert str(path) in str(error)
    assert "not a readable ASE database" in str(error)


@pytest.mark.parametrize("name", ["cluster.pdb", "cluster.json", "cluster", "cluster.xyz.bak"])
def test_unknown_suffix(tmp_path, name):
    path = tmp_path / name
    write_two_waters(path)
    error = read_error(path)
    assert str(path) in str(error)
    assert "unknown file type" in str(error)
    assert ".tfrecord.gz" in str(error)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.xyz", "xyz"), ("a.XYZ", "xyz"), ("a.extxyz", "xyz"), ("a.db", "ase-db"),
     ("a.tfrecord", "tfrecord"), ("a.tfrecord.gz", "tfrecord")],
)
def test_detect_format(name, kind):
    assert detect_format(name) == kind


def test_energy_is_float(tmp_path):
    path = tmp_path / "int.xyz"
    write_two_waters(path, "-3")
    energy = next(read_clusters(path)).energy
    assert isinstance(energy, float)
    assert energy == -3.0
