"""Command-line interface: ``python -m jobs submit|list|status|logs|cancel``.

Invalid input (a spec, a job id, an option) ends with one ``error: ...``
line and exit status 2; a scheduler or launch failure with one
``error: ...`` line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from jobs.backends import BACKEND_NAMES
from jobs.errors import JobSpecError, SchedulerError
from jobs.manager import DEFAULT_GRACE_S, JobManager
from jobs.paths import RUNS_DIR_VARIABLE, default_runs_dir
from jobs.profiles import PROFILE_VARIABLE, load_profile
from jobs.spec import read_spec_file
from jobs.status import JobStatus
from jobs.store import RunStore


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports a usage error as one ``error: ...`` line and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--runs-dir", metavar="DIR",
                        help=f"runs root (default: ${RUNS_DIR_VARIABLE}, else var/runs in the project)")
    common.add_argument("--site-profile", metavar="NAME|FILE",
                        help=f"site profile for slurm and pbs (default: ${PROFILE_VARIABLE}, else default)")
    common.add_argument("--grace-s", type=float, default=DEFAULT_GRACE_S,
                        help=f"seconds between SIGTERM and SIGKILL when cancelling (default: {DEFAULT_GRACE_S:g})")

    parser = _Parser(prog="python -m jobs", description="Submit and track engine jobs, locally or on a cluster.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    submit = commands.add_parser("submit", parents=[common], help="validate a spec file and submit the job; prints its id")
    submit.add_argument("spec", metavar="SPEC.json", help="job spec: kind, params and resources")
    submit.add_argument("--backend", choices=BACKEND_NAMES, default="local", help="where the job runs (default: local)")
    submit.add_argument("--max-running", type=int, metavar="N",
                        help="local jobs that may run at once (default: $DESIGN_LOCAL_MAX_RUNNING, else one per two cores)")

    commands.add_parser("list", parents=[common], help="print a table of all jobs")
    status = commands.add_parser("status", parents=[common], help="print the status of a job as JSON")
    status.add_argument("job_id", metavar="ID")
    logs = commands.add_parser("logs", parents=[common], help="print the job's log")
    logs.add_argument("job_id", metavar="ID")
    logs.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    cancel = commands.add_parser("cancel", parents=[common], help="cancel a job; prints its status as JSON")
    cancel.add_argument("job_id", metavar="ID")
    return parser


def _manager(args: argparse.Namespace) -> JobManager:
    store = RunStore(args.runs_dir or default_runs_dir())
    profile = load_profile(args.site_profile) if args.site_profile else None
    backends = {}
    if getattr(args, "max_running", None) is not None:
        from jobs.backends.local import LocalBackend

        backends["local"] = LocalBackend(store, max_running=args.max_running)
    if args.grace_s < 0:
        raise JobSpecError(f"--grace-s must be at least 0, got {args.grace_s}")
    return JobManager(store, backends, profile, grace_s=args.grace_s)


def format_table(statuses: list[JobStatus]) -> str:
    """Return a fixed-width table of jobs: id, kind, backend, state, submission time, exit code."""
    header = ("ID", "KIND", "BACKEND", "STATE", "SUBMITTED (UTC)", "EXIT")
    rows = [header]
    for status in statuses:
        submitted = (status.submitted_at or "")[:19].replace("T", " ")
        exit_code = "" if status.exit_code is None else str(status.exit_code)
        rows.append((status.job_id, status.kind, status.backend, status.state.value, submitted, exit_code))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run(args: argparse.Namespace) -> int:
    manager = _manager(args)
    if args.command == "submit":
        spec = read_spec_file(args.spec, manager.store)
        print(manager.submit(spec, args.backend))
    elif args.command == "list":
        print(format_table(manager.list()))
    elif args.command == "status":
        print(json.dumps(manager.status(args.job_id).to_dict(), indent=2))
    elif args.command == "logs":
        if args.follow:
            manager.follow_log(args.job_id, lambda text: (sys.stdout.write(text), sys.stdout.flush()))
        else:
            path = manager.log_path(args.job_id)
            if path.exists():
                sys.stdout.write(path.read_text(errors="replace"))
    elif args.command == "cancel":
        print(json.dumps(manager.cancel(args.job_id).to_dict(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    level = os.environ.get("DESIGN_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "WARNING",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except JobSpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SchedulerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
