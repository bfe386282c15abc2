"""Backends that run jobs: local worker processes, Slurm and PBS Pro."""

from jobs.backends.base import Backend

BACKEND_NAMES = ("local", "slurm", "pbs")

__all__ = ["BACKEND_NAMES", "Backend"]
