"""Background callbacks in forked processes, with the server's SQLite use kept apart from the forks.

Dash's :class:`~dash.DiskcacheManager` starts each background computation
as a forked copy of the server, and the server's request threads use SQLite
through diskcache (Dash's own job records and the component cache). SQLite
guards its memory allocator with a process-wide mutex. A fork made while
another thread held that mutex gave a child whose first SQLite call waited
forever: a stack dump of such a hung Reward page computation showed it in
``sqlite3Malloc`` under ``pthread_mutex_lock``. So every SQLite use in the
server takes :data:`SQLITE_LOCK`, and so does the fork.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import diskcache
from dash import DiskcacheManager

#: Held by the server around each diskcache call and around each fork of a background computation.
SQLITE_LOCK = threading.RLock()


class LockedCache:
    """A :class:`diskcache.Cache` whose method calls, and transactions, hold :data:`SQLITE_LOCK`."""

    def __init__(self, cache: diskcache.Cache):
        self._cache = cache

    @contextmanager
    def transact(self, *args: Any, **kwargs: Any) -> Iterator[None]:
        with SQLITE_LOCK, self._cache.transact(*args, **kwargs):
            yield

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._cache, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with SQLITE_LOCK:
                return value(*args, **kwargs)

        return locked


class ForkSafeDiskcacheManager(DiskcacheManager):
    """A :class:`~dash.DiskcacheManager` that forks only while no server thread is inside SQLite."""

    def __init__(self, cache: diskcache.Cache, **options: Any):
        super().__init__(cache, **options)
        self.handle = LockedCache(self.handle)

    def call_job_fn(self, key, job_fn, args, context):
        # The forked child keeps the lock's owner thread, so its own diskcache calls can take it again.
        with SQLITE_LOCK:
            return super().call_job_fn(key, job_fn, args, context)
