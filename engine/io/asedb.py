"""Reader for ASE databases (``.db`` files of :mod:`ase.db`).

Each row is one cluster. Its energy is taken, in this order, from the
key-value pair ``energy_kcal_mol`` (kcal/mol) or from the stored calculator
energy, which ASE keeps in eV and which is converted to kcal/mol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from ase import units

from engine.errors import ClusterFormatError

EV_TO_KCAL_PER_MOL = 1.0 / (units.kcal / units.mol)


def iter_ase_db_frames(path: str | Path) -> Iterator[tuple[int, list[str], np.ndarray, float | None, None]]:
    """Yield ``(frame, symbols, positions, energy, None)`` for each row, in id order."""
    import ase.db

    source = str(path)
    try:
        database = ase.db.connect(str(path), type="db", create_indices=False)
        rows = list(database.select())
    except Exception as error:  # ase.db raises sqlite3 and ValueError subclasses alike
        raise ClusterFormatError(source, f"not a readable ASE database ({error})") from None
    if not rows:
        raise ClusterFormatError(source, "the database has no rows")
    for frame, row in enumerate(rows):
        atoms = row.toatoms()
        energy = row.key_value_pairs.get("energy_kcal_mol")
        if energy is None and row.get("energy") is not None:
            energy = float(row.energy) * EV_TO_KCAL_PER_MOL
        if energy is not None and (isinstance(energy, (str, bool)) or not np.isfinite(float(energy))):
            raise ClusterFormatError(source, f"energy {energy!r} is not a finite number", frame)
        positions = atoms.get_positions()
        if not np.all(np.isfinite(positions)):
            raise ClusterFormatError(source, "coordinates contain NaN or infinity", frame)
        yield frame, atoms.get_chemical_symbols(), positions, None if energy is None else float(energy), None
