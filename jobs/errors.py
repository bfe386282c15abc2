"""Exceptions of the job layer.

:class:`JobSpecError` covers invalid input found before any work starts: a
spec, a job id or a site profile. Nothing is written to the runs folder when
it is raised. :class:`SchedulerError` covers a scheduler or process launcher
that failed or is unavailable. The CLI prints either as one ``error: ...``
line, with exit status 2 for the first and 1 for the second.
"""

from __future__ import annotations


class JobError(Exception):
    """Base class of the job layer's errors."""


class JobSpecError(JobError, ValueError):
    """Invalid input: a spec, parameter, resource, job id or profile that cannot be used."""


class JobNotFoundError(JobSpecError):
    """A well-formed job id with no run folder under the runs root."""


class SchedulerError(JobError, RuntimeError):
    """A scheduler command or the local process launcher failed or is unavailable."""
