"""The limit on concurrently running local jobs, as a pool of lock-file slots.

The runs root contains ``.slots/slot-0.lock`` to ``slot-(N-1).lock``. A worker
runs its command only while it holds an exclusive ``flock`` on one of them.
The kernel drops the lock when the worker exits, even after SIGKILL, so a
crashed worker can never keep a slot, and no status file has to be trusted
or cleaned up.

Waiting workers queue in ``.slots/queue/``: each creates a ticket file named
by its submission time and job id and holds a ``flock`` on it while it
waits. A ticket whose lock can be taken belongs to a dead worker and is
removed. Only the oldest N live waiters try the slots, so jobs start
roughly in submission order. A ticket is created under a temporary name,
locked, then renamed into the queue, so no visible ticket is ever unlocked
while its worker lives.

The limit is per runs root and per worker: a worker tries the slots
``0..N-1`` of the N it was started with.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


def default_max_running() -> int:
    """Return the default limit: one running job per two CPU cores, at least 1."""
    return max(1, (os.cpu_count() or 1) // 2)


def _try_lock(path: Path, create: bool) -> int | None:
    """Return a descriptor holding an exclusive lock on ``path``, or None when another process holds it."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        descriptor = os.open(path, flags, 0o644)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


class Slot:
    """A held slot; :meth:`release` or process exit frees it."""

    def __init__(self, descriptor: int, index: int):
        self.descriptor = descriptor
        self.index = index

    def release(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1


class SlotPool:
    """Slots under ``folder`` limiting running jobs to ``n_slots``.

    Args:
        folder: The ``.slots`` folder of a runs root; created when missing.
        n_slots: Maximum number of jobs running at once.
        poll_s: Seconds between attempts while waiting.
    """

    def __init__(self, folder: Path, n_slots: int, poll_s: float = 0.1):
        if n_slots < 1:
            raise ValueError(f"n_slots must be at least 1, got {n_slots}")
        self.folder = Path(folder)
        self.queue_dir = self.folder / "queue"
        self.n_slots = n_slots
        self.poll_s = poll_s
        self.queue_dir.mkdir(parents=True, exist_ok=True)

    def acquire(self, ticket_name: str, should_stop: Callable[[], bool]) -> Slot | None:
        """Wait for a free slot and return it; return None once ``should_stop()`` is true.

        Args:
            ticket_name: Queue position, sorting by submission (e.g.
                ``<submission time in ns>-<job id>``).
            should_stop: Checked between attempts.
        """
        ticket_path = self.queue_dir / ticket_name
        staging_path = self.queue_dir / f".new-{ticket_name}"
        ticket = _try_lock(staging_path, create=True)
        if ticket is None:
            raise RuntimeError(f"queue ticket {staging_path} is locked by another process")
        os.rename(staging_path, ticket_path)
        try:
            while True:
                rank = self._live_tickets(ticket_name).index(ticket_name)
                if rank < self.n_slots:
                    slot = self._try_slots()
                    if slot is not None:
                        return slot
                if should_stop():
                    return None
                time.sleep(self.poll_s)
        finally:
            ticket_path.unlink(missing_ok=True)
            os.close(ticket)

    def _try_slots(self) -> Slot | None:
        for index in range(self.n_slots):
            descriptor = _try_lock(self.folder / f"slot-{index}.lock", create=True)
            if descriptor is not None:
                return Slot(descriptor, index)
        return None

    def _live_tickets(self, own_ticket: str) -> list[str]:
        """Return the tickets of live waiters, sorted; removes tickets of dead ones."""
        live = []
        for name in sorted(os.listdir(self.queue_dir)):
            if name.startswith("."):
                continue
            if name == own_ticket:
                live.append(name)
                continue
            descriptor = _try_lock(self.queue_dir / name, create=False)
            if descriptor is None:
                # Locked by its waiter (alive), or removed meanwhile.
                if (self.queue_dir / name).exists():
                    live.append(name)
                continue
            logger.info("removing the queue ticket %s of a worker that exited", name)
            (self.queue_dir / name).unlink(missing_ok=True)
            os.close(descriptor)
        return live

    def running_count(self) -> int:
        """Return how many of the first ``n_slots`` slots are held now (a snapshot)."""
        held = 0
        for index in range(self.n_slots):
            descriptor = _try_lock(self.folder / f"slot-{index}.lock", create=True)
            if descriptor is None:
                held += 1
            else:
                os.close(descriptor)
        return held
