"""A one-node Slurm cluster on 127.0.0.1 for the job tests.

The cluster runs as root without systemd: ``munged`` (as the munge user,
with its own key and socket in the state folder), ``slurmd -N localhost``
and ``slurmctld``. Every configuration, state, log and pid file lives in one
state folder, and the client commands find the cluster through the
``SLURM_CONF`` variable that :attr:`SlurmTestCluster.environment` returns.
Both daemons listen on 127.0.0.1 only, on ports that were free when the
cluster started.

Used by the session fixture in ``tests/test_jobs_slurm.py`` and by
``scripts/slurm_test_cluster.py start|stop STATE_DIR``.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)

#: Debian packages that provide the daemons and the client commands.
DEBIAN_PACKAGES = ("slurm-wlm", "munge")
#: Programs that must exist once the packages are installed.
REQUIRED_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "srun", "sinfo")

#: Address added to ``lo`` where IPv4 names do not resolve otherwise (see
#: :meth:`SlurmTestCluster._ensure_ipv4_resolution`).
EXTRA_LOOPBACK_ADDRESS = "127.0.0.2/32"
#: Seconds to wait for a daemon to come up or to exit.
DAEMON_TIMEOUT_S = 30.0
#: Seconds to wait for the running jobs to end after ``scancel`` at stop.
DRAIN_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """The test cluster could not be started or stopped; the message names the step."""


def _program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def missing_programs() -> list[str]:
    """Return the required programs that are not installed."""
    return [name for name in REQUIRED_PROGRAMS if _program(name) is None]


def install_packages() -> None:
    """Install the Debian packages with apt-get when programs are missing and this process is root.

    Raises:
        ClusterError: if apt-get fails.
    """
    if not missing_programs() or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    logger.info("installing Debian packages %s", " ".join(DEBIAN_PACKAGES))
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=environment, capture_output=True, check=False)
    result = subprocess.run(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES], env=environment,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"apt-get install {' '.join(DEBIAN_PACKAGES)} failed: {result.stderr.strip()[-500:]}")


def unavailable_reason() -> str | None:
    """Return why the test cluster cannot run here, or None when it can.

    Installs the packages first when they are missing and this process is root.
    """
    if os.geteuid() != 0:
        return "the test Slurm cluster needs root (its daemons run as root, munge and slurm)"
    try:
        install_packages()
    except ClusterError as error:
        return str(error)
    missing = missing_programs()
    if missing:
        return f"programs {', '.join(missing)} are missing; install the Debian packages {' '.join(DEBIAN_PACKAGES)}"
    for user in ("munge", "slurm"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"system user {user!r} is missing; reinstall the Debian packages {' '.join(DEBIAN_PACKAGES)}"
    return None


def _ipv4_addrconfig_works() -> bool:
    """Return whether glibc resolves 127.0.0.1 for ``AF_INET`` with ``AI_ADDRCONFIG``, as Slurm resolves names."""
    try:
        socket.getaddrinfo("127.0.0.1", "1", socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    except socket.gaierror:
        return False
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlurmTestCluster:
    """A one-node Slurm cluster whose files all live under ``state_dir``.

    Args:
        state_dir: Folder for configuration, state, logs and pid files. It is
            created when missing and must be reachable by the munge and slurm
            users (every parent folder must be searchable by others).
    """

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir).resolve()
        self.conf_path = self.state_dir / "slurm.conf"
        self.munge_dir = self.state_dir / "munge"
        self.munge_key = self.state_dir / "munge-key" / "munge.key"
        self.munge_socket = self.munge_dir / "munge.socket"
        self.munge_pid_file = self.munge_dir / "munged.pid"
        self.run_dir = self.state_dir / "run"
        self.log_dir = self.state_dir / "log"
        self.ctld_state_dir = self.state_dir / "ctld"
        self.spool_dir = self.state_dir / "spool"
        self.jobcomp_path = self.log_dir / "jobcomp.log"
        self.slurmctld_pid_file = self.run_dir / "slurmctld.pid"
        self.slurmd_pid_file = self.run_dir / "slurmd.pid"

    @property
    def environment(self) -> dict[str, str]:
        """Environment variables that point the client commands at this cluster."""
        return {"SLURM_CONF": str(self.conf_path)}

    # --- start ---------------------------------------------------------------

    def start(self) -> None:
        """Start munged, slurmd and slurmctld and wait until the node accepts jobs.

        Raises:
            ClusterError: naming the step that failed, with the tail of its log.
        """
        started_at = time.monotonic()
        self._ensure_ipv4_resolution()
        self._make_folders()
        self._start_munged()
        self._write_config()
        self._run_daemon([_program("slurmd"), "-f", str(self.conf_path), "-N", "localhost"], self.slurmd_pid_file,
                         self.log_dir / "slurmd.log")
        self._run_daemon([_program("slurmctld"), "-f", str(self.conf_path)], self.slurmctld_pid_file,
                         self.log_dir / "slurmctld.log")
        self._wait_for_idle_node()
        logger.info("test Slurm cluster in %s up after %.2f s", self.state_dir, time.monotonic() - started_at)

    def _ensure_ipv4_resolution(self) -> None:
        """Give ``lo`` a second address when IPv4 names do not resolve for the daemons.

        Slurm 22.05 resolves host names with ``AF_INET`` and ``AI_ADDRCONFIG``,
        and glibc then returns nothing unless some IPv4 address other than
        127.0.0.1 is configured. In a loopback-only network namespace every
        lookup, even of ``127.0.0.1``, therefore fails. The extra address
        127.0.0.2/32 on ``lo`` makes the lookups work and reaches nothing
        beyond this machine; :meth:`stop` removes it again.
        """
        if _ipv4_addrconfig_works():
            return
        result = subprocess.run(["ip", "addr", "add", EXTRA_LOOPBACK_ADDRESS, "dev", "lo"], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise ClusterError(f"IPv4 names do not resolve with AI_ADDRCONFIG here, and adding "
                               f"{EXTRA_LOOPBACK_ADDRESS} to lo failed: {result.stderr.strip()}")
        (self.state_dir / "added-loopback-address").parent.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "added-loopback-address").write_text(EXTRA_LOOPBACK_ADDRESS + "\n")
        logger.info("added %s to lo so that Slurm can resolve IPv4 host names", EXTRA_LOOPBACK_ADDRESS)

    def _make_folders(self) -> None:
        munge = pwd.getpwnam("munge")
        slurm = pwd.getpwnam("slurm")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        owners = {
            self.munge_dir: (munge, 0o755),
            self.munge_key.parent: (munge, 0o700),
            self.run_dir: (slurm, 0o755),
            self.log_dir: (slurm, 0o755),
            self.ctld_state_dir: (slurm, 0o700),
            self.spool_dir: (None, 0o755),
        }
        for folder, (owner, mode) in owners.items():
            folder.mkdir(exist_ok=True)
            os.chmod(folder, mode)
            if owner is not None:
                os.chown(folder, owner.pw_uid, owner.pw_gid)
        if not self.munge_key.exists():
            self.munge_key.write_bytes(os.urandom(128))
        os.chown(self.munge_key, munge.pw_uid, munge.pw_gid)
        os.chmod(self.munge_key, 0o400)

    def _start_munged(self) -> None:
        command = [
            _program("munged"),
            f"--socket={self.munge_socket}",
            f"--key-file={self.munge_key}",
            f"--pid-file={self.munge_pid_file}",
            f"--log-file={self.munge_dir / 'munged.log'}",
            f"--seed-file={self.munge_dir / 'munged.seed'}",
        ]
        result = subprocess.run(command, user="munge", group="munge", extra_groups=[], capture_output=True,
                                text=True, check=False)
        if result.returncode != 0:
            raise ClusterError(f"munged failed to start (exit {result.returncode}): {result.stderr.strip()}")
        self._wait_for(lambda: self.munge_socket.exists() and self.munge_pid_file.exists(), "munged socket")

    def node_line(self) -> str:
        """Return the NodeName line for this machine from ``slurmd -C``, renamed ``localhost``."""
        output = subprocess.run([_program("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
        fields = output.splitlines()[0].split()
        kept = [field for field in fields if not field.startswith("NodeName=")]
        return " ".join(["NodeName=localhost", "NodeAddr=127.0.0.1", *kept, "State=UNKNOWN"])

    def _write_config(self) -> None:
        lines = [
            "ClusterName=jobstest",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=slurm",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            # Without these both daemons listen on every address.
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
            f"StateSaveLocation={self.ctld_state_dir}",
            f"SlurmdSpoolDir={self.spool_dir}",
            f"SlurmctldPidFile={self.slurmctld_pid_file}",
            f"SlurmdPidFile={self.slurmd_pid_file}",
            f"SlurmctldLogFile={self.log_dir / 'slurmctld.log'}",
            f"SlurmdLogFile={self.log_dir / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            # Cores only: with memory as a consumable and no default memory
            # per job, every job would take the whole node.
            "SelectTypeParameters=CR_Core",
            "SchedulerParameters=batch_sched_delay=0",
            "MailProg=/bin/true",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp_path}",
            # Finished jobs stay visible to scontrol for an hour.
            "MinJobAge=3600",
            "ReturnToService=2",
            # Seconds between SIGTERM and SIGKILL when a job is cancelled.
            "KillWait=5",
            "InactiveLimit=0",
            self.node_line(),
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf_path.write_text("\n".join(lines) + "\n")
        os.chmod(self.conf_path, 0o644)

    def _run_daemon(self, command: list[str], pid_file: Path, log_path: Path) -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ClusterError(f"{Path(command[0]).name} failed to start (exit {result.returncode}): "
                               f"{result.stderr.strip()} {_tail(log_path)}")
        self._wait_for(pid_file.exists, f"{pid_file.name}", log_path)

    def _wait_for_idle_node(self) -> None:
        def node_idle() -> bool:
            result = self.run_client(["sinfo", "-h", "-n", "localhost", "-o", "%T"])
            return result.returncode == 0 and result.stdout.strip().rstrip("*") == "idle"

        self._wait_for(node_idle, "node localhost to become idle", self.log_dir / "slurmctld.log")

    def _wait_for(self, condition, what: str, log_path: Path | None = None) -> None:
        deadline = time.monotonic() + DAEMON_TIMEOUT_S
        while not condition():
            if time.monotonic() > deadline:
                detail = _tail(log_path) if log_path else ""
                raise ClusterError(f"timed out after {DAEMON_TIMEOUT_S:.0f} s waiting for {what} {detail}".strip())
            time.sleep(0.05)

    # --- use -----------------------------------------------------------------

    def run_client(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster and return the completed process."""
        environment = {**os.environ, **self.environment}
        return subprocess.run(argv, env=environment, capture_output=True, text=True, check=False)

    def job_ids(self, states: str = "all") -> list[str]:
        """Return the ids of the jobs in the given ``squeue -t`` states."""
        result = self.run_client(["squeue", "-h", "-t", states, "-o", "%A"])
        return result.stdout.split() if result.returncode == 0 else []

    # --- stop ----------------------------------------------------------------

    def stop(self) -> None:
        """Cancel every job, wait for them to end, then stop slurmd, slurmctld and munged.

        With ``proctrack/linuxproc`` the processes of a job outlive slurmd, so
        the jobs are cancelled and drained first. Each daemon is stopped by the
        pid in its pid file.
        """
        if self.slurmctld_pid_file.exists():
            active = self.job_ids("PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING")
            if active:
                logger.info("cancelling test cluster jobs %s", " ".join(active))
                self.run_client(["scancel", *active])
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while self.job_ids("RUNNING,COMPLETING,CONFIGURING,SUSPENDED") and time.monotonic() < deadline:
                time.sleep(0.2)
        for pid_file in (self.slurmd_pid_file, self.slurmctld_pid_file, self.munge_pid_file):
            _stop_by_pid_file(pid_file)
        marker = self.state_dir / "added-loopback-address"
        if marker.exists():
            subprocess.run(["ip", "addr", "del", marker.read_text().strip(), "dev", "lo"], capture_output=True,
                           check=False)
            marker.unlink()
        logger.info("test Slurm cluster in %s stopped", self.state_dir)


def _stop_by_pid_file(pid_file: Path) -> None:
    """Send SIGTERM to the process named in ``pid_file`` and wait for it to exit, then SIGKILL."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + DAEMON_TIMEOUT_S
    while _alive(pid):
        if time.monotonic() > deadline:
            logger.warning("pid %d from %s ignored SIGTERM; sending SIGKILL", pid, pid_file)
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Return whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _tail(path: Path | None, n_lines: int = 5) -> str:
    if path is None or not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()[-n_lines:]
    return f"(last lines of {path}: {' | '.join(lines)})"
