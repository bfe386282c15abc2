"""Slurm backend: renders an sbatch script per job, submits, watches and cancels it.

Submission uses ``sbatch --parsable``, and ``squeue`` shows whether a job
is pending or running. ``scontrol show job`` gives the final state and exit
code while the controller keeps the record (``MinJobAge``). After that, the
``jobcomp/filetxt`` log named in the site profile gives the final state; it
records ``0:0`` as the exit code of cancelled and timed-out jobs, so that
code is not used. A job that none of them has a record of, and that recorded
no final state in its run folder, is lost.

Multi-rank jobs run the engine under ``srun`` (one task per rank), with
``MASTER_ADDR`` set to the first host of the allocation and ``MASTER_PORT``
derived from the job id. Array jobs run one task per start cluster; each
task picks its command from ``commands.json`` by ``$SLURM_ARRAY_TASK_ID``.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from jobs.backends.base import Backend, record_lost_if_never_launched, record_vanished, request_cancel
from jobs.errors import SchedulerError
from jobs.kinds import CommandContext
from jobs.profiles import SiteProfile, check_directive_path
from jobs.spec import JobSpec, Resources
from jobs.status import JobState, JobStatus
from jobs.store import RunFolder, RunStore

logger = logging.getLogger(__name__)

SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "scancel")
#: Seconds a Slurm client command may take before it counts as failed.
COMMAND_TIMEOUT_S = 30.0
SBATCH_OUTPUT_PATTERN = re.compile(r"([0-9]+)(?:;([A-Za-z0-9_.-]+))?")
FIELD_PATTERN = re.compile(r"([A-Za-z][A-Za-z0-9_/:]*)=(\S*)")

#: Slurm job states that are not final, mapped to ours.
ACTIVE_STATES = {
    "PENDING": JobState.QUEUED, "REQUEUED": JobState.QUEUED, "REQUEUE_HOLD": JobState.QUEUED,
    "REQUEUE_FED": JobState.QUEUED, "CONFIGURING": JobState.RUNNING, "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING, "SUSPENDED": JobState.RUNNING, "STOPPED": JobState.RUNNING,
    "RESIZING": JobState.RUNNING, "SIGNALING": JobState.RUNNING, "STAGE_OUT": JobState.RUNNING,
    "RESV_DEL_HOLD": JobState.QUEUED,
}
#: Final Slurm job states, mapped to ours with a reason for the failed ones.
FINAL_STATES = {
    "COMPLETED": (JobState.SUCCEEDED, None),
    "CANCELLED": (JobState.CANCELLED, "cancelled in Slurm"),
    "REVOKED": (JobState.CANCELLED, "revoked by Slurm federation"),
    "FAILED": (JobState.FAILED, "the batch script exited with a non-zero status"),
    "TIMEOUT": (JobState.FAILED, "the time limit was reached"),
    "OUT_OF_MEMORY": (JobState.FAILED, "the job ran out of memory"),
    "NODE_FAIL": (JobState.FAILED, "a node of the job failed"),
    "PREEMPTED": (JobState.FAILED, "the job was preempted"),
    "BOOT_FAIL": (JobState.FAILED, "a node failed to boot"),
    "DEADLINE": (JobState.FAILED, "the job missed its deadline"),
    "SPECIAL_EXIT": (JobState.FAILED, "the job ended in SPECIAL_EXIT"),
}


def parse_sbatch_output(output: str) -> tuple[str, str | None]:
    """Return the job id and cluster name from ``sbatch --parsable`` output (``ID`` or ``ID;CLUSTER``).

    Raises:
        SchedulerError: quoting the output when it has any other form.
    """
    text = output.strip()
    match = SBATCH_OUTPUT_PATTERN.fullmatch(text)
    if match is None:
        raise SchedulerError(f"unexpected sbatch output {text!r}: expected a job id, optionally followed by ';CLUSTER'")
    return match.group(1), match.group(2)


def parse_exit_code(value: str | None) -> int | None:
    """Return the exit status from Slurm's ``EXIT:SIGNAL`` form (128 + SIGNAL when a signal ended it)."""
    if not value or ":" not in value:
        return None
    code, signal_number = value.split(":", 1)
    if not (code.isdigit() and signal_number.isdigit()):
        return None
    return 128 + int(signal_number) if int(signal_number) else int(code)


def parse_scontrol_records(output: str) -> list[dict[str, str]]:
    """Parse ``scontrol show job -o`` output: one dict of ``Key=Value`` fields per line."""
    return [dict(FIELD_PATTERN.findall(line)) for line in output.splitlines() if line.strip()]


def summarize_states(records: list[tuple[str, int | None]]) -> tuple[JobState, int | None, str | None, str]:
    """Combine the states of a job's records (one per array task) into one.

    Args:
        records: Slurm state name and exit status of each record.

    Returns:
        Our state, the exit status, a reason for a failed or cancelled job,
        and the Slurm state names joined for display.
    """
    names = sorted({name for name, _ in records})
    shown = ",".join(names)
    active = [ACTIVE_STATES[name] for name, _ in records if name in ACTIVE_STATES]
    if active:
        return (JobState.RUNNING if JobState.RUNNING in active else JobState.QUEUED), None, None, shown
    outcomes = [(FINAL_STATES.get(name, (JobState.FAILED, f"unknown Slurm state {name}")), name, code)
                for name, code in records]
    if all(state is JobState.SUCCEEDED for (state, _), _, _ in outcomes):
        return JobState.SUCCEEDED, 0, None, shown
    for (state, reason), name, code in outcomes:
        if state is JobState.CANCELLED:
            return JobState.CANCELLED, code, reason, shown
    for (state, reason), name, code in outcomes:
        if state is JobState.FAILED:
            return JobState.FAILED, code, f"{reason} (Slurm state {name})", shown
    raise AssertionError("unreachable: every final state is succeeded, cancelled or failed")


def render_sbatch_script(job_id: str, spec: JobSpec, resources: Resources, commands: list[list[str]],
                         run_dir: Path, profile: SiteProfile) -> str:
    """Return the sbatch script of a job.

    Every value comes from validated fields: names match
    :data:`jobs.fields.SCHEDULER_NAME_PATTERN`, numbers have ranges, paths
    in ``#SBATCH`` lines pass :func:`jobs.profiles.check_directive_path`,
    and every word of a command goes through :func:`shlex.quote`.
    """
    project = check_directive_path(profile.project_path, "project folder")
    log_path = check_directive_path(run_dir / "job.log", "run folder")
    python = str(profile.python_path)
    job_name = resources.job_name or f"{spec.kind.name}-{job_id[-6:]}"

    directives = [f"--job-name={job_name}"]
    for option, value in (("partition", resources.partition), ("account", resources.account),
                          ("qos", resources.qos)):
        if value is not None:
            directives.append(f"--{option}={value}")
    directives += [f"--nodes={resources.nodes}", f"--ntasks-per-node={resources.tasks_per_node}"]
    if resources.cpus_per_task is not None:
        directives.append(f"--cpus-per-task={resources.cpus_per_task}")
    if resources.gpus_per_node:
        directives.append(f"--gpus-per-node={resources.gpus_per_node}")
    if resources.mem_gb is not None:
        directives.append(f"--mem={max(1, round(resources.mem_gb * 1024))}M")
    if resources.time_min is not None:
        directives.append(f"--time={resources.time_min}")
    if spec.is_array:
        limit = f"%{resources.array_parallel}" if resources.array_parallel else ""
        directives.append(f"--array=0-{len(commands) - 1}{limit}")
    directives += [f"--chdir={project}", f"--output={log_path}", "--open-mode=append"]

    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {directive}" for directive in directives]
    lines += ["", f"# Job {job_id} ({spec.kind.name}), rendered from its validated spec.", "set -uo pipefail", ""]
    lines += environment_setup_lines(profile)
    lines.append(f"cd {shlex.quote(project)}")

    worker = [python, "-m", "jobs.worker", str(run_dir), "--batch"]
    if spec.is_array:
        lines.append(f'exec {shlex.join(worker)} --array-task "$SLURM_ARRAY_TASK_ID"')
        return "\n".join(lines) + "\n"
    command = commands[0]
    if resources.n_ranks > 1:
        lines += [
            'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
            "export MASTER_ADDR",
            f"export MASTER_PORT=$(({profile.master_port_base} + SLURM_JOB_ID % 1000))",
        ]
        launcher = ["srun", "--kill-on-bad-exit=1", f"--nodes={resources.nodes}",
                    f"--ntasks={resources.n_ranks}", f"--ntasks-per-node={resources.tasks_per_node}"]
        if resources.cpus_per_task is not None:
            launcher.append(f"--cpus-per-task={resources.cpus_per_task}")
        command = launcher + command
    lines.append(f"exec {shlex.join(worker + ['--', *command])}")
    return "\n".join(lines) + "\n"


def environment_setup_lines(profile: SiteProfile) -> list[str]:
    """Return the shell lines that load modules, activate the venv and export variables."""
    lines = [f"module load {shlex.quote(name)}" for name in profile.modules]
    if profile.venv is not None:
        lines.append(f"source {shlex.quote(str(profile.resolve(profile.venv) / 'bin' / 'activate'))}")
    lines += [f"export {name}={shlex.quote(value)}" for name, value in profile.environment.items()]
    lines += list(profile.setup_lines)
    return lines


class SlurmBackend(Backend):
    """Submits jobs to Slurm.

    Args:
        store: The runs root; it must be visible at the same path on the nodes.
        profile: Site profile (modules, venv, defaults, Horovod, jobcomp log).
        environment: Extra environment for the Slurm commands (e.g. ``SLURM_CONF``).
    """

    name = "slurm"

    def __init__(self, store: RunStore, profile: SiteProfile, environment: dict[str, str] | None = None):
        super().__init__(store)
        self.profile = profile
        self.environment = environment or {}

    # --- Slurm commands --------------------------------------------------------

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
                                  env={**os.environ, **self.environment})
        except FileNotFoundError:
            raise SchedulerError(f"Slurm is not available: {argv[0]} not found on PATH") from None
        except subprocess.TimeoutExpired:
            raise SchedulerError(f"{argv[0]} timed out after {COMMAND_TIMEOUT_S:.0f} s") from None

    @staticmethod
    def _cluster_options(status: JobStatus) -> list[str]:
        return [f"--clusters={status.scheduler_cluster}"] if status.scheduler_cluster else []

    def check_available(self) -> None:
        search_path = self.environment.get("PATH", os.environ.get("PATH"))
        missing = [name for name in SLURM_COMMANDS if shutil.which(name, path=search_path) is None]
        if missing:
            raise SchedulerError(f"Slurm is not available: {', '.join(missing)} not found on PATH")
        result = self._run(["scontrol", "ping"])
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or "DOWN" in output:
            raise SchedulerError(f"Slurm is not available: the controller does not respond to 'scontrol ping' "
                                 f"({output or 'no output'})")

    # --- submission ------------------------------------------------------------

    def command_context(self, run_dir: Path, spec: JobSpec) -> CommandContext:
        resources = self.profile.apply_defaults(spec.resources)
        return CommandContext(python=str(self.profile.python_path), run_dir=run_dir, runs_root=self.store.root,
                              horovod=self.profile.horovod, n_ranks=resources.n_ranks)

    def render_script(self, job_id: str, run_dir: Path, spec: JobSpec, commands: list[list[str]]) -> str:
        resources = self.profile.apply_defaults(spec.resources)
        return render_sbatch_script(job_id, spec, resources, commands, run_dir, self.profile)

    def submit(self, folder: RunFolder, spec: JobSpec) -> None:
        result = self._run(["sbatch", "--parsable", str(folder.script_path)])
        if result.returncode != 0:
            raise SchedulerError(f"sbatch failed (exit {result.returncode}): "
                                 f"{(result.stderr or result.stdout).strip() or 'no output'}")
        scheduler_id, cluster = parse_sbatch_output(result.stdout)

        def record(status: JobStatus) -> None:
            status.scheduler_id, status.scheduler_cluster = scheduler_id, cluster

        folder.update_status(record)
        logger.info("job %s: submitted as Slurm job %s%s", folder.job_id, scheduler_id,
                    f" on cluster {cluster}" if cluster else "")

    # --- watching --------------------------------------------------------------

    def _squeue(self, status: JobStatus) -> list[tuple[str, int | None]] | None:
        result = self._run(["squeue", *self._cluster_options(status), "--noheader", "--states=all",
                            f"--jobs={status.scheduler_id}", "--format=%i|%T"])
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:
                return None
            raise SchedulerError(f"squeue failed (exit {result.returncode}): {result.stderr.strip()}")
        records = []
        for line in result.stdout.splitlines():
            if "|" in line:
                records.append((line.split("|", 1)[1].strip().split()[0], None))
        return records or None

    def _scontrol(self, status: JobStatus) -> list[tuple[str, int | None]] | None:
        result = self._run(["scontrol", *self._cluster_options(status), "--oneliner", "show", "job",
                            status.scheduler_id])
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:
                return None
            raise SchedulerError(f"scontrol show job failed (exit {result.returncode}): {result.stderr.strip()}")
        records = [(record.get("JobState", "UNKNOWN"), parse_exit_code(record.get("ExitCode")))
                   for record in parse_scontrol_records(result.stdout)]
        return records or None

    def _jobcomp(self, status: JobStatus) -> list[tuple[str, int | None]] | None:
        if not self.profile.jobcomp_file or status.array_size:
            return None
        path = Path(self.profile.jobcomp_file)
        try:
            lines = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return None
        marker = f"JobId={status.scheduler_id} "
        for line in reversed(lines):
            if line.startswith(marker):
                record = dict(FIELD_PATTERN.findall(line))
                state = record.get("JobState", "UNKNOWN")
                # jobcomp/filetxt (Slurm 22.05) writes 0:0 for cancelled and timed-out jobs.
                code = parse_exit_code(record.get("ExitCode")) if state == "FAILED" else None
                return [(state, code)]
        return None

    def _scheduler_records(self, status: JobStatus) -> list[tuple[str, int | None]] | None:
        records = self._squeue(status)
        if records and any(name in ACTIVE_STATES for name, _ in records):
            return records
        return self._scontrol(status) or self._jobcomp(status)

    def refresh(self, folder: RunFolder) -> JobStatus:
        status = folder.read_status()
        if status.state.is_final:
            return status
        if status.scheduler_id is None:
            return record_lost_if_never_launched(folder, status, "Slurm job id")
        records = self._scheduler_records(status)
        if records is None:
            return record_vanished(folder, "Slurm")
        state, exit_code, reason, shown = summarize_states(records)

        if not state.is_final:
            def track(record: JobStatus) -> None:
                record.scheduler_state = shown
                # squeue can lag behind a worker that already recorded
                # running, so a running job is not moved back to queued.
                if not record.state.is_final and record.state is not JobState.RUNNING:
                    record.state = state

            return folder.update_status(track)

        status = folder.read_status()
        if not status.state.is_final:
            task_codes = _task_exit_codes(folder, status)
            if task_codes is not None and state is not JobState.CANCELLED:
                failed = [code for code in task_codes if code != 0]
                exit_code = failed[0] if failed else 0
            status = folder.record_final(state, exit_code, reason)

        def note(record: JobStatus) -> None:
            record.scheduler_state = shown

        return folder.update_status(note)

    def cancel(self, folder: RunFolder, grace_s: float) -> JobStatus:
        status = self.refresh(folder)
        if status.state.is_final:
            return status

        status = request_cancel(folder)
        if status.scheduler_id is not None:
            result = self._run(["scancel", *self._cluster_options(status), status.scheduler_id])
            if result.returncode != 0 and "Invalid job id" not in result.stderr:
                raise SchedulerError(f"scancel {status.scheduler_id} failed (exit {result.returncode}): "
                                     f"{result.stderr.strip()}")
            logger.info("job %s: sent scancel for Slurm job %s", folder.job_id, status.scheduler_id)
        return self.wait_final(folder, grace_s, 0.2)


def _task_exit_codes(folder: RunFolder, status: JobStatus) -> list[int] | None:
    """Return the exit codes the array tasks recorded, or None unless every task did."""
    if not status.array_size:
        return None
    results = folder.read_task_results()
    if len(results) != status.array_size:
        return None
    return [results[index].get("exit_code", 1) for index in range(status.array_size)]

