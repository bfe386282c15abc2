"""Exceptions of the engine.

Input errors (:class:`InputError` and its subclasses) are raised before any
work starts and name the file, frame, line or field at fault; the CLI turns
them into a one-line message and a non-zero exit, and the dashboard shows
them as a message.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file, a field or a parameter that cannot be used."""


class ClusterFormatError(InputError):
    """A cluster file that cannot be read, with the place of the problem.

    Args:
        source: Path or name of the file.
        problem: What is wrong, as a sentence fragment.
        frame: Index of the frame or record, from 0, when known.
        line: Line number in the file, from 1, when known.
    """

    def __init__(self, source: str, problem: str, frame: int | None = None, line: int | None = None):
        self.source = source
        self.problem = problem
        self.frame = frame
        self.line = line
        place = [str(source)]
        if frame is not None:
            place.append(f"frame {frame}")
        if line is not None:
            place.append(f"line {line}")
        super().__init__(f"{', '.join(place)}: {problem}")
