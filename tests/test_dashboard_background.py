"""Tests of the fork-safe background manager: SQLite use and forks of background computations kept apart."""

from __future__ import annotations

import threading
import time

import diskcache
import psutil

from dashboard.background import SQLITE_LOCK, ForkSafeDiskcacheManager, LockedCache

#: Seconds a forked child that writes a few cache entries may take on a loaded 2-core machine.
CHILD_TIMEOUT_S = 30.0


def wait_for_child(pid: int) -> None:
    """Wait until a forked child has exited, failing after :data:`CHILD_TIMEOUT_S`."""
    try:
        psutil.Process(pid).wait(CHILD_TIMEOUT_S)
    except psutil.NoSuchProcess:
        pass


def test_locked_cache_holds_lock_in_calls(tmp_path):
    cache = LockedCache(diskcache.Cache(str(tmp_path)))
    cache.set("key", 1)
    assert cache.get("key") == 1

    with cache.transact():
        # Another thread cannot take the lock while the transaction is open.
        taken = []
        other = threading.Thread(target=lambda: taken.append(SQLITE_LOCK.acquire(timeout=0.2)))
        other.start()
        other.join()
        assert taken == [False]
    assert SQLITE_LOCK.acquire(timeout=1.0)
    SQLITE_LOCK.release()


def test_fork_happens_under_lock(tmp_path):
    manager = ForkSafeDiskcacheManager(diskcache.Cache(str(tmp_path)))

    def job(key, progress_key, args, context):
        # Runs in the forked child, whose only thread is the one that forked while holding the lock.
        manager.handle.set(key, SQLITE_LOCK._is_owned())

    pid = manager.call_job_fn("owned", job, (), {})
    wait_for_child(pid)
    assert manager.handle.get("owned") is True


def test_forks_finish_while_threads_use_sqlite(tmp_path):
    manager = ForkSafeDiskcacheManager(diskcache.Cache(str(tmp_path)))
    stop = threading.Event()

    def busy() -> None:
        count = 0
        while not stop.is_set():
            manager.handle.set(f"busy-{count % 50}", count)
            count += 1

    threads = [threading.Thread(target=busy) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        pids = []
        for index in range(20):

            def job(key, progress_key, args, context):
                # A new SQLite connection in the child, as Dash's progress reports open one.
                child_cache = diskcache.Cache(str(tmp_path))
                child_cache.set(key, "done")

            pids.append(manager.call_job_fn(f"child-{index}", job, (), {}))
            time.sleep(0.01)
        for pid in pids:
            wait_for_child(pid)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert [manager.handle.get(f"child-{index}") for index in range(20)] == ["done"] * 20
