"""The job wrapper: ``python -m jobs.worker RUN_DIR [options] [-- ARGV...]``.

It records the job's progress in its run folder: ``running`` with the start
time, ``started`` and ``finished`` progress entries, and the final state
with the exit code and, on failure, the last log lines. The engine command
writes to the worker's stdout and stderr, which are ``job.log``.

Local jobs (the default): the worker first waits for a slot of the
concurrency limit (see :mod:`jobs.slots`), staying ``queued``, then runs
every task of ``commands.json`` in turn. SIGTERM stops the command; the job
ends ``cancelled`` when a cancel was requested, else ``failed``.

Batch jobs (``--batch``, inside a Slurm or PBS job): the worker runs ARGV,
or task ``--array-task N`` of ``commands.json``. A SIGTERM without a cancel
request (a time limit, a node failure) records no final state, because the
scheduler reports the reason.

The engine command gets ``DESIGN_JOB_ID``, ``DESIGN_RUN_DIR`` and
``DESIGN_PROGRESS_FILE`` (the run folder's ``progress.jsonl``, where it may
append its own JSON lines with ``time``, ``fraction``, ``message`` and
``metrics``) in its environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from jobs.paths import PROJECT_ROOT
from jobs.processes import JOB_ID_VARIABLE, parent_death_signal, start_ticks
from jobs.progress import parse_progress_line
from jobs.slots import SlotPool, default_max_running
from jobs.status import JobState, JobStatus, parse_time, utc_now
from jobs.store import RunFolder, write_json_atomic

# Named explicitly: run as "python -m jobs.worker", __name__ is "__main__".
logger = logging.getLogger("jobs.worker")

#: Variables that set the thread count of numerical libraries from ``resources.cpus_per_task``.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def exit_status(returncode: int) -> int:
    """Return a shell-style exit status: ``128 + N`` for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


class Worker:
    """Runs the commands of one run folder and records the outcome.

    Args:
        folder: The run folder.
        batch: Whether the worker runs inside a Slurm or PBS job.
    """

    def __init__(self, folder: RunFolder, batch: bool):
        self.folder = folder
        self.batch = batch
        self.signal_received: int | None = None
        self.child: subprocess.Popen | None = None

    # --- signals -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for signum in TERMINATING_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame) -> None:
        first = self.signal_received is None
        self.signal_received = signum
        if first:
            logger.info("job %s: received %s", self.folder.job_id, signal.Signals(signum).name)
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    # --- running -------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment[JOB_ID_VARIABLE] = self.folder.job_id
        environment["DESIGN_RUN_DIR"] = str(self.folder.path)
        environment["DESIGN_PROGRESS_FILE"] = str(self.folder.progress_path)
        environment.setdefault("DESIGN_LOG_LEVEL", "INFO")
        environment["PYTHONUNBUFFERED"] = "1"
        cpus = _cpus_per_task(self.folder)
        if cpus is not None:
            for name in THREAD_VARIABLES:
                environment[name] = str(cpus)
        return environment

    def run_command(self, argv: list[str]) -> int:
        """Run one command to completion and return its exit status.

        The command's output passes through the worker line by line into
        ``job.log``, so that progress lines become ``progress.jsonl`` entries.
        """
        logger.info("job %s: running %s", self.folder.job_id, " ".join(argv))
        sys.stderr.flush()
        try:
            self.child = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=self._environment(), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          preexec_fn=parent_death_signal(signal.SIGTERM))
        except OSError as error:
            logger.error("job %s: cannot start %s: %s", self.folder.job_id, argv[0], error)
            return 127
        if self.signal_received is not None:
            self.child.send_signal(self.signal_received)
        output = sys.stdout.buffer
        for line in self.child.stdout:
            output.write(line)
            output.flush()
            entry = parse_progress_line(line.decode("utf-8", errors="replace"))
            if entry is not None:
                self.folder.append_progress(entry["message"], entry["fraction"], entry["metrics"])
        returncode = self.child.wait()
        self.child.stdout.close()
        self.child = None
        status = exit_status(returncode)
        logger.info("job %s: command exited with status %d", self.folder.job_id, status)
        return status

    def mark_running(self) -> None:
        """Record ``running``, the start time, this host and this process."""
        pid = os.getpid()

        def change(status: JobStatus) -> None:
            status.state = JobState.RUNNING
            status.started_at = status.started_at or utc_now()
            status.host = socket.gethostname()
            if self.batch:
                status.pid, status.pgid, status.pid_start_ticks = pid, os.getpgid(0), start_ticks(pid)

        self.folder.update_status(change)

    def finish(self, exit_codes: list[int]) -> int:
        """Record the final state for the exit codes of all tasks; return the worker's exit status."""
        failed = [code for code in exit_codes if code != 0]
        first_failure = failed[0] if failed else 0
        if self.signal_received is not None:
            name = signal.Signals(self.signal_received).name
            if self.folder.read_status().cancel_requested_at:
                self.folder.record_final(JobState.CANCELLED, first_failure or None, f"cancelled on request ({name})")
                self.folder.append_progress("cancelled")
            elif self.batch:
                # A time limit or node failure: the scheduler reports the state.
                self.folder.append_progress(f"terminated by {name}")
            else:
                self.folder.record_final(JobState.FAILED, first_failure or 128 + self.signal_received,
                                         f"worker terminated by {name}")
                self.folder.append_progress(f"terminated by {name}")
            return first_failure or 128 + self.signal_received
        if not failed:
            self.folder.record_final(JobState.SUCCEEDED, 0)
            self.folder.append_progress("finished", 1.0)
            return 0
        if len(exit_codes) == 1:
            reason = f"engine command exited with status {first_failure}"
        else:
            reason = f"{len(failed)} of {len(exit_codes)} tasks failed; the first exited with status {first_failure}"
        self.folder.record_final(JobState.FAILED, first_failure, reason)
        self.folder.append_progress("failed")
        return first_failure

    # --- modes ---------------------------------------------------------------

    def run_local(self, max_running: int) -> int:
        """Wait for a slot, then run every task of ``commands.json`` in turn."""
        status = self.folder.read_status()
        pool = SlotPool(self.folder.path.parent / ".slots", max_running)
        ticket = f"{_ticket_time_ns(status):020d}-{self.folder.job_id}"
        slot = pool.acquire(ticket, should_stop=lambda: self.signal_received is not None)
        if slot is None:
            return self.finish([])
        logger.info("job %s: got slot %d of %d", self.folder.job_id, slot.index, max_running)
        self.mark_running()
        commands = self.folder.read_commands()
        self.folder.append_progress("started", 0.0, {"tasks": len(commands)})
        exit_codes = []
        for index, argv in enumerate(commands):
            if self.signal_received is not None:
                break
            task_started_at = utc_now()
            exit_codes.append(self.run_command(argv))
            if len(commands) > 1:
                _write_task_result(self.folder, index, exit_codes[-1], task_started_at)
                self.folder.append_progress(f"task {index} finished", (index + 1) / len(commands),
                                            {"task": index, "exit_code": exit_codes[-1]})
        result = self.finish(exit_codes)
        slot.release()
        return result

    def run_batch(self, argv: list[str] | None, array_task: int | None) -> int:
        """Run one command inside a Slurm or PBS job (one array task, when ``array_task`` is set)."""
        if array_task is None:
            if not argv:
                raise SystemExit("error: --batch without --array-task needs the command after --")
            self.mark_running()
            self.folder.append_progress("started", 0.0)
            return self.finish([self.run_command(argv)])

        commands = self.folder.read_commands()
        if not 0 <= array_task < len(commands):
            raise SystemExit(f"error: array task {array_task} out of range 0-{len(commands) - 1}")
        self.mark_running()
        self.folder.append_progress(f"task {array_task} started", None, {"task": array_task})
        task_started_at = utc_now()
        code = self.run_command(argv or commands[array_task])
        if self.signal_received is not None and not self.folder.read_status().cancel_requested_at:
            self.folder.append_progress(f"task {array_task} terminated by {signal.Signals(self.signal_received).name}")
            return code
        _write_task_result(self.folder, array_task, code, task_started_at)
        results = self.folder.read_task_results()
        self.folder.append_progress(f"task {array_task} finished", len(results) / len(commands),
                                    {"task": array_task, "exit_code": code})
        if len(results) == len(commands):
            codes = [results[index].get("exit_code", 1) for index in range(len(commands))]
            self.finish(codes)
        elif self.signal_received is not None:
            self.finish([code])
        return code


def _ticket_time_ns(status: JobStatus) -> int:
    submitted = parse_time(status.submitted_at)
    return int(submitted.timestamp() * 1e9) if isinstance(submitted, datetime) else 0


def _cpus_per_task(folder: RunFolder) -> int | None:
    try:
        value = json.loads(folder.spec_path.read_text()).get("resources", {}).get("cpus_per_task")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def _write_task_result(folder: RunFolder, index: int, exit_code: int, started_at: str) -> None:
    folder.tasks_dir.mkdir(exist_ok=True)
    state = JobState.SUCCEEDED if exit_code == 0 else JobState.FAILED
    write_json_atomic(folder.task_status_path(index), {
        "task": index, "state": state.value, "exit_code": exit_code, "started_at": started_at,
        "finished_at": utc_now(), "host": socket.gethostname(),
    })


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs.worker", description="Run a job's commands and record its state.")
    parser.add_argument("run_dir", help="the job's run folder")
    parser.add_argument("--batch", action="store_true", help="run inside a Slurm or PBS job")
    parser.add_argument("--array-task", type=int, default=None, help="array task index (with --batch)")
    parser.add_argument("--max-running", type=int, default=None,
                        help="local jobs that may run at once (default: one per two CPU cores)")
    parser.epilog = "With --batch, the command to run follows '--'."
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" is the command, never worker options.
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    options = argv[:argv.index("--")] if "--" in argv else argv
    args = build_parser().parse_args(options)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    folder = RunFolder(Path(args.run_dir).resolve())
    worker = Worker(folder, batch=args.batch)
    worker.install_signal_handlers()
    if args.batch:
        return worker.run_batch(command or None, args.array_task)
    return worker.run_local(args.max_running or default_max_running())


if __name__ == "__main__":
    sys.exit(main())
