"""Reader for multi-frame xyz files, plain and extended.

A frame is an atom-count line, a comment line and one line per atom
(``symbol x y z``, further columns ignored). The comment line holds the
energy in kcal/mol in one of two forms:

* plain xyz: the first token of the line is the energy, as in the files of
  the Database of Water Cluster Minima;
* extended xyz: ``key=value`` pairs with an ``energy=`` key. This reader takes
  that energy as kcal/mol, unlike ASE, which takes it as eV.

An empty comment line, or an extended-xyz line without an ``energy=`` key,
gives a frame without energy. A plain comment line whose first token is
not a number is rejected as a non-numeric energy.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import ClusterFormatError


def _parse_energy(comment: str, source: str, frame: int, line: int) -> float | None:
    text = comment.strip()
    if not text:
        return None
    if "=" in text:
        try:
            tokens = shlex.split(text)
        except ValueError as error:
            raise ClusterFormatError(source, f"unreadable extended-xyz comment line ({error})", frame, line) from None
        for token in tokens:
            key, sep, value = token.partition("=")
            if sep and key.lower() == "energy":
                return _to_energy(value, source, frame, line)
        return None
    return _to_energy(text.split()[0], source, frame, line)


def _to_energy(value: str, source: str, frame: int, line: int) -> float:
    try:
        energy = float(value)
    except ValueError:
        raise ClusterFormatError(source, f"energy {value!r} is not a number", frame, line) from None
    if not math.isfinite(energy):
        raise ClusterFormatError(source, f"energy {value!r} is not a finite number", frame, line)
    return energy


def iter_xyz_frames(path: str | Path) -> Iterator[tuple[int, list[str], np.ndarray, float | None, int]]:
    """Yield ``(frame, symbols, positions, energy, first_line)`` for each frame.

    ``positions`` has shape ``(n_atoms, 3)`` in Angstrom; ``first_line`` is
    the 1-based line of the frame's atom count.

    Raises:
        ClusterFormatError: naming the frame and line of the first problem:
            an empty file, a bad or mismatching atom count, a truncated
            frame, a non-numeric or non-finite coordinate or energy, or text
            that is not UTF-8.
    """
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ClusterFormatError(source, f"not a text file (byte {error.start} is not UTF-8)") from None
    if "\x00" in text:
        raise ClusterFormatError(source, "not a text file (contains NUL bytes)")
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise ClusterFormatError(source, "the file is empty")

    index = 0
    frame = 0
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        count_line = index + 1
        count_text = lines[index].strip()
        try:
            n_atoms = int(count_text)
        except ValueError:
            raise ClusterFormatError(
                source, f"expected an atom count, found {count_text[:40]!r}", frame, count_line
            ) from None
        if n_atoms <= 0:
            raise ClusterFormatError(source, f"atom count must be positive, got {n_atoms}", frame, count_line)
        if index + 1 >= len(lines):
            raise ClusterFormatError(source, "truncated frame: the comment line is missing", frame, count_line)
        energy = _parse_energy(lines[index + 1], source, frame, index + 2)

        symbols: list[str] = []
        positions = np.empty((n_atoms, 3))
        for atom in range(n_atoms):
            line_no = index + 3 + atom
            if line_no > len(lines):
                raise ClusterFormatError(
                    source,
                    f"truncated frame: the atom count says {n_atoms} atoms but only {atom} atom lines follow",
                    frame,
                    line_no,
                )
            fields = lines[line_no - 1].split()
            if len(fields) < 4:
                raise ClusterFormatError(
                    source,
                    f"expected 'symbol x y z', found {lines[line_no - 1].strip()[:60]!r} "
                    f"(the atom count says {n_atoms} atoms)",
                    frame,
                    line_no,
                )
            symbols.append(fields[0].capitalize())
            for axis in range(3):
                try:
                    value = float(fields[axis + 1])
                except ValueError:
                    raise ClusterFormatError(
                        source, f"coordinate {fields[axis + 1]!r} is not a number", frame, line_no
                    ) from None
                if not math.isfinite(value):
                    raise ClusterFormatError(
                        source, f"coordinate {fields[axis + 1]!r} is not a finite number", frame, line_no
                    )
                positions[atom, axis] = value
        index += 2 + n_atoms
        # A surplus line that is not the next frame's count means the count was too small.
        if index < len(lines) and lines[index].strip() and not lines[index].strip().isdigit():
            raise ClusterFormatError(
                source,
                f"atom count {n_atoms} does not match the frame: line {index + 1} is "
                f"{lines[index].strip()[:60]!r}, not the next frame's atom count",
                frame,
                count_line,
            )
        yield frame, symbols, positions, energy, count_line
        frame += 1
