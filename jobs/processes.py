"""Process checks for the local backend: liveness, pid reuse and process groups (Linux ``/proc``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
from pathlib import Path

logger = logging.getLogger(__name__)

#: ``prctl`` option that sets the signal a process receives when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Environment variable that marks every process of a job with its id.
JOB_ID_VARIABLE = "DESIGN_JOB_ID"


def _stat_fields(pid: int) -> list[str] | None:
    """Return the fields of ``/proc/PID/stat`` after the command name, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return text.rsplit(")", 1)[1].split()


def start_ticks(pid: int) -> int | None:
    """Return the start time of ``pid`` in clock ticks since boot, or None if it is gone."""
    fields = _stat_fields(pid)
    # Field 22 of /proc/PID/stat (starttime) is index 19 after the command name.
    return int(fields[19]) if fields else None


def process_alive(pid: int, expected_start_ticks: int | None = None) -> bool:
    """Return whether ``pid`` runs and is not a zombie.

    With ``expected_start_ticks``, a process that reuses the pid but started
    at another time counts as gone.
    """
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return expected_start_ticks is None or int(fields[19]) == expected_start_ticks


def group_members(pgid: int, job_id: str | None = None) -> list[int]:
    """Return the live processes in process group ``pgid``.

    With ``job_id``, only processes whose environment carries
    ``DESIGN_JOB_ID=job_id`` count, so that a reused group id never matches.
    """
    members = []
    marker = f"{JOB_ID_VARIABLE}={job_id}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        # Field 5 (pgrp) is index 2 after the command name; field 3 (state) is index 0.
        if fields is None or int(fields[2]) != pgid or fields[0] in ("Z", "X"):
            continue
        if job_id is not None:
            try:
                environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if marker not in environment:
                continue
        members.append(pid)
    return members


def signal_job_processes(pgid: int, job_id: str, signum: int, leader_alive: bool) -> None:
    """Send ``signum`` to the processes of a job.

    When the group leader (the worker) is alive, the whole group gets the
    signal at once with ``killpg``. Otherwise only the group members marked
    with the job id get it, one by one.
    """
    if leader_alive:
        try:
            os.killpg(pgid, signum)
        except ProcessLookupError:
            pass
        return
    for pid in group_members(pgid, job_id):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def parent_death_signal(signum: int = signal.SIGTERM):
    """Return a ``preexec_fn`` that makes the child receive ``signum`` when its parent dies.

    Returns None where ``prctl`` is unavailable (not Linux).
    """
    library = ctypes.util.find_library("c")
    if library is None or not hasattr(os, "fork"):
        return None
    libc = ctypes.CDLL(library, use_errno=True)
    if not hasattr(libc, "prctl"):
        return None

    def set_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)

    return set_signal
