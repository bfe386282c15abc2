"""PBS Pro backend: renders qsub scripts and submits, watches and cancels them with qsub, qstat and qdel.

NOTE: only the rendered scripts are tested (golden files); the qsub, qstat
and qdel calls have not run against a PBS server. Multi-rank jobs are not
supported, because PBS has no ``srun`` that sets the per-rank variables the
engine reads.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from jobs.backends.base import Backend, record_lost_if_never_launched, record_vanished, request_cancel
from jobs.backends.slurm import environment_setup_lines
from jobs.errors import JobSpecError, SchedulerError
from jobs.kinds import CommandContext
from jobs.profiles import SiteProfile, check_directive_path
from jobs.spec import JobSpec, Resources
from jobs.status import JobState, JobStatus
from jobs.store import RunFolder, RunStore

logger = logging.getLogger(__name__)

PBS_COMMANDS = ("qsub", "qstat", "qdel")
COMMAND_TIMEOUT_S = 30.0
#: qsub output: ``1234.server`` or, for arrays, ``1234[].server``.
QSUB_OUTPUT_PATTERN = re.compile(r"[0-9]+(\[\])?(\.[A-Za-z0-9_.-]+)?")
QUEUED_STATES = {"Q", "H", "W", "T", "M"}
RUNNING_STATES = {"R", "E", "B", "S", "U"}
FINISHED_STATES = {"F", "X"}


def parse_qsub_output(output: str) -> str:
    """Return the job id printed by ``qsub``.

    Raises:
        SchedulerError: quoting the output when it is not a PBS job id.
    """
    text = output.strip()
    if not QSUB_OUTPUT_PATTERN.fullmatch(text):
        raise SchedulerError(f"unexpected qsub output {text!r}: expected a job id such as 1234.server")
    return text


def walltime(time_min: int) -> str:
    """Return ``HH:MM:00`` for a time limit in minutes."""
    return f"{time_min // 60:02d}:{time_min % 60:02d}:00"


def check_resources_for_pbs(resources: Resources) -> None:
    """Raise :class:`JobSpecError` for resources the PBS backend cannot express."""
    if resources.n_ranks > 1:
        raise JobSpecError("the PBS backend runs single-rank jobs only; set nodes and tasks_per_node to 1")
    if resources.qos is not None:
        raise JobSpecError("PBS has no QOS setting; remove resources.qos")
    if resources.array_parallel is not None:
        raise JobSpecError("the PBS backend does not limit parallel array tasks; remove resources.array_parallel")


def render_qsub_script(job_id: str, spec: JobSpec, resources: Resources, commands: list[list[str]],
                       run_dir: Path, profile: SiteProfile) -> str:
    """Return the qsub script of a job; values are validated and shell-quoted as for Slurm.

    An array of one task runs as a plain job of task 0, because a PBS array
    range needs at least two indices. Array subjobs write ``job-N.log``.
    """
    check_resources_for_pbs(resources)
    project = check_directive_path(profile.project_path, "project folder")
    log_path = check_directive_path(run_dir / "job.log", "run folder")
    job_name = resources.job_name or f"{spec.kind.name}-{job_id[-6:]}"

    chunk = [f"select={resources.nodes}", f"ncpus={resources.cpus_per_task or 1}", "mpiprocs=1"]
    if resources.gpus_per_node:
        chunk.append(f"ngpus={resources.gpus_per_node}")
    if resources.mem_gb is not None:
        chunk.append(f"mem={max(1, round(resources.mem_gb * 1024))}mb")
    directives = [f"-N {job_name}"]
    if resources.partition is not None:
        directives.append(f"-q {resources.partition}")
    if resources.account is not None:
        directives.append(f"-A {resources.account}")
    directives.append(f"-l {':'.join(chunk)}")
    if resources.time_min is not None:
        directives.append(f"-l walltime={walltime(resources.time_min)}")
    if spec.is_array and len(commands) > 1:
        # PBS copies each subjob's output back at its end, so every subjob
        # needs its own file; ^array_index^ is PBS Pro's placeholder for it.
        directives.append(f"-J 0-{len(commands) - 1}")
        log_path = log_path.removesuffix(".log") + "-^array_index^.log"
    directives += [f"-o {log_path}", "-j oe"]

    lines = ["#!/bin/bash"] + [f"#PBS {directive}" for directive in directives]
    lines += ["", f"# Job {job_id} ({spec.kind.name}), rendered from its validated spec.", "set -uo pipefail", ""]
    lines += environment_setup_lines(profile)
    lines.append(f"cd {shlex.quote(project)}")
    worker = [str(profile.python_path), "-m", "jobs.worker", str(run_dir), "--batch"]
    if spec.is_array and len(commands) > 1:
        lines.append(f'exec {shlex.join(worker)} --array-task "$PBS_ARRAY_INDEX"')
    elif spec.is_array:
        lines.append(f"exec {shlex.join(worker + ['--array-task', '0'])}")
    else:
        lines.append(f"exec {shlex.join(worker + ['--', *commands[0]])}")
    return "\n".join(lines) + "\n"


class PbsBackend(Backend):
    """Submits jobs to PBS Pro.

    Args:
        store: The runs root; it must be visible at the same path on the nodes.
        profile: Site profile.
    """

    name = "pbs"

    def __init__(self, store: RunStore, profile: SiteProfile):
        super().__init__(store)
        self.profile = profile

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise SchedulerError(f"PBS is not available: {argv[0]} not found on PATH") from None
        except subprocess.TimeoutExpired:
            raise SchedulerError(f"{argv[0]} timed out after {COMMAND_TIMEOUT_S:.0f} s") from None

    def check_available(self) -> None:
        missing = [name for name in PBS_COMMANDS if shutil.which(name) is None]
        if missing:
            raise SchedulerError(f"PBS is not available: {', '.join(missing)} not found on PATH")

    def command_context(self, run_dir: Path, spec: JobSpec) -> CommandContext:
        return CommandContext(python=str(self.profile.python_path), run_dir=run_dir, runs_root=self.store.root)

    def render_script(self, job_id: str, run_dir: Path, spec: JobSpec, commands: list[list[str]]) -> str:
        resources = self.profile.apply_defaults(spec.resources)
        return render_qsub_script(job_id, spec, resources, commands, run_dir, self.profile)

    def submit(self, folder: RunFolder, spec: JobSpec) -> None:
        result = self._run(["qsub", str(folder.script_path)])
        if result.returncode != 0:
            raise SchedulerError(f"qsub failed (exit {result.returncode}): "
                                 f"{(result.stderr or result.stdout).strip() or 'no output'}")
        scheduler_id = parse_qsub_output(result.stdout)

        def record(status: JobStatus) -> None:
            status.scheduler_id = scheduler_id

        folder.update_status(record)
        logger.info("job %s: submitted as PBS job %s", folder.job_id, scheduler_id)

    def refresh(self, folder: RunFolder) -> JobStatus:
        status = folder.read_status()
        if status.state.is_final:
            return status
        if status.scheduler_id is None:
            return record_lost_if_never_launched(folder, status, "PBS job id")
        result = self._run(["qstat", "-x", "-f", "-F", "json", status.scheduler_id])
        if result.returncode != 0:
            if "Unknown Job Id" in result.stderr or "Job has finished" in result.stderr:
                return record_vanished(folder, "PBS")
            raise SchedulerError(f"qstat failed (exit {result.returncode}): {result.stderr.strip()}")
        try:
            jobs = json.loads(result.stdout).get("Jobs", {})
        except json.JSONDecodeError as error:
            raise SchedulerError(f"qstat printed invalid JSON: {error}") from None
        record = next(iter(jobs.values()), None)
        if record is None:
            return record_vanished(folder, "PBS")
        state_letter = str(record.get("job_state", ""))
        if state_letter in QUEUED_STATES or state_letter in RUNNING_STATES:
            def track(current: JobStatus) -> None:
                current.scheduler_state = state_letter
                if not current.state.is_final:
                    current.state = JobState.RUNNING if state_letter in RUNNING_STATES else JobState.QUEUED

            return folder.update_status(track)
        status = folder.read_status()
        if status.state.is_final:
            return status
        exit_status = record.get("Exit_status")
        if status.cancel_requested_at:
            return folder.record_final(JobState.CANCELLED, exit_status, "cancelled on request")
        if exit_status == 0:
            return folder.record_final(JobState.SUCCEEDED, 0)
        return folder.record_final(JobState.FAILED, exit_status, f"PBS job ended with Exit_status {exit_status}")

    def cancel(self, folder: RunFolder, grace_s: float) -> JobStatus:
        status = self.refresh(folder)
        if status.state.is_final:
            return status

        status = request_cancel(folder)
        result = self._run(["qdel", status.scheduler_id])
        if result.returncode != 0:
            raise SchedulerError(f"qdel {status.scheduler_id} failed (exit {result.returncode}): "
                                 f"{result.stderr.strip()}")
        return self.wait_final(folder, grace_s, 0.5)

