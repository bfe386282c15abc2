"""Fixtures and helpers shared by the engine tests.

Test modules import the fixtures they use from here by name, next to the
plain helpers, so that pytest finds them in the module's namespace.

The real data lives beside the project root, in ``../shared/data``: the
HydroNet training records and the ``wN_lowest.xyz`` minima. Tests that need
it skip with a message when it is missing.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import google_crc32c
import numpy as np
import pytest

from engine.graphs import WaterGraph
from engine.io import read_clusters

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
TFRECORD_PATH = DATA_DIR / "hydronet" / "water_clusters_train.tfrecord.gz"
MINIMA_DIR = DATA_DIR / "minima"
#: Sizes of the minima files, wN_lowest.xyz.
MINIMA_SIZES = tuple(range(3, 31))


def require_file(path: Path) -> Path:
    """Return ``path``, or skip the calling test when the data file is missing."""
    if not path.is_file():
        pytest.skip(f"real data file {path} is missing (expected in ../shared/data beside the project root)")
    return path


def minima_path(n_waters: int) -> Path:
    """Return the path of the putative global minimum of (H2O)n, skipping when it is missing."""
    return require_file(MINIMA_DIR / f"w{n_waters}_lowest.xyz")


@pytest.fixture(scope="module")
def hydronet_clusters() -> list:
    """Every cluster of the HydroNet training file, read once per test module."""
    return list(read_clusters(require_file(TFRECORD_PATH)))


# --- xyz files ---------------------------------------------------------------


def read_xyz_raw(path: Path) -> tuple[list[str], np.ndarray, str]:
    """Read a one-frame xyz file in file order, without the engine: symbols, positions, comment."""
    lines = path.read_text().splitlines()
    n_atoms = int(lines[0])
    fields = [line.split() for line in lines[2 : 2 + n_atoms]]
    symbols = [row[0] for row in fields]
    positions = np.array([[float(x) for x in row[1:4]] for row in fields])
    return symbols, positions, lines[1]


def xyz_text(symbols: list[str], positions: np.ndarray, comment: str) -> str:
    """Format one xyz frame with 10 decimals per coordinate, enough to keep every hydrogen bond."""
    rows = [f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z) in zip(symbols, positions)]
    return "\n".join([str(len(symbols)), comment, *rows]) + "\n"


def water_at(oxygen: tuple[float, float, float]) -> tuple[list[str], np.ndarray]:
    """One water (O, H, H) with its O at ``oxygen``: O-H 0.9572 Angstrom, H-O-H 104.52 degrees."""
    half = np.radians(104.52 / 2)
    o = np.asarray(oxygen, dtype=float)
    h1 = o + 0.9572 * np.array([np.sin(half), np.cos(half), 0.0])
    h2 = o + 0.9572 * np.array([-np.sin(half), np.cos(half), 0.0])
    return ["O", "H", "H"], np.stack([o, h1, h2])


# --- TFRecord files ----------------------------------------------------------


def masked_crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` masked as in the TFRecord framing (rotate right by 15, add 0xa282ead8)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(payload: bytes) -> bytes:
    """Frame one payload as a TFRecord: length, length CRC, payload, payload CRC."""
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc32c(length)) + payload + struct.pack("<I", masked_crc32c(payload))


def first_records(count: int) -> list[bytes]:
    """Return the first ``count`` framed records of the real HydroNet file, each as raw bytes."""
    records = []
    with gzip.open(require_file(TFRECORD_PATH), "rb") as handle:
        for _ in range(count):
            header = handle.read(12)
            (length,) = struct.unpack("<Q", header[:8])
            records.append(header + handle.read(length + 4))
    return records


# --- hand-made water graphs --------------------------------------------------


def chain_graph(n_waters: int) -> WaterGraph:
    """Waters 0 -> 1 -> ... -> n-1 in a chain."""
    return WaterGraph(n_waters, tuple((i, i + 1) for i in range(n_waters - 1)))


def ring_graph(n_waters: int) -> WaterGraph:
    """Waters in one directed ring, each donating to the next."""
    return WaterGraph(n_waters, tuple((i, (i + 1) % n_waters) for i in range(n_waters)))


def star_graph(n_leaves: int) -> WaterGraph:
    """Water 0 bonded to every other water. It donates to the first two leaves and accepts from the rest."""
    bonds = [(0, leaf) if leaf <= 2 else (leaf, 0) for leaf in range(1, n_leaves + 1)]
    return WaterGraph(n_leaves + 1, tuple(bonds))


def random_valid_graph(rng: np.random.Generator, n_waters: int, n_tries: int) -> WaterGraph:
    """Grow a valid graph by trying ``n_tries`` random bonds and keeping those that leave it valid."""
    graph = WaterGraph(n_waters)
    for _ in range(n_tries):
        donor, acceptor = (int(x) for x in rng.integers(0, n_waters, size=2))
        candidate = WaterGraph(n_waters, graph.hbonds + ((donor, acceptor),))
        if candidate.is_valid():
            graph = candidate
    return graph


def assert_same_descriptors(first, second) -> None:
    """Assert two Descriptors are equal: every field exactly, but the degree variance to 1e-12."""
    left = first.as_dict()
    right = second.as_dict()
    # np.var sums squared deviations in node order, so relabelling may change the last bits.
    assert left.pop("degree_variance") == pytest.approx(right.pop("degree_variance"), rel=1e-12, abs=1e-15)
    assert left == right
