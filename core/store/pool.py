"""Which memory limit DuckDB runs under now: its limit is process-wide, and what runs decides it.

DuckDB keeps every block it reads in its pool until the pool is full, so its limit is also what it holds once the
pages have been viewed; an export's sort needs more than page views do (benchmarks/RESULTS.md, Memory). So the
store's limit (`memory_limit_mib`, `PW_DUCKDB_MEMORY_MIB`) is what a block that asks for it runs under
(`Store.memory_raised`: the export, the rewrite, a group written again after failing under the lowered limit);
otherwise DuckDB runs under the resting limit, `RESTING_SHARE` of it, and a sync's group write under a lower one
while nothing reads (`Store.memory_lowered`).

Raising the limit is safe under a running query. Lowering it under one once left DuckDB spinning, so the limit is
lowered only when no read runs and no other thread holds the write lock; a lowering put off for that happens when
the next read ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

RESTING_SHARE = (5, 7)  # of the store's limit: 80 of 112 MiB


class PoolLimit:
    """The limit DuckDB is under (`current_mib`) and the one it should be under; used under the store's gate."""

    def __init__(self, limit_mib: int, write_lock: threading.RLock, set_limit: Callable[[int], bool]) -> None:
        self.limit_mib = limit_mib
        self.resting_mib = max(1, limit_mib * RESTING_SHARE[0] // RESTING_SHARE[1])
        self.current_mib = limit_mib  # the database opens under the store's limit (migrations run under it)
        self.low_mib: int | None = None  # what a lowered block asks for
        self.raised = 0  # raised blocks running
        self._write_lock = write_lock
        self._set_limit = set_limit  # False where DuckDB refused (more pinned than that)

    def wanted(self, idle: bool) -> int:
        """The limit for now; `idle` when no read runs and reads are not paused."""
        if self.raised:
            return self.limit_mib
        if idle and self.low_mib is not None:
            return min(self.low_mib, self.resting_mib)
        return self.resting_mib

    def apply(self, idle: bool) -> None:
        wanted = self.wanted(idle)
        if wanted > self.current_mib:
            self._change(wanted)
        elif wanted < self.current_mib and idle and self._write_lock.acquire(blocking=False):
            try:  # no other thread writes (this thread's own write, if any, runs no query now)
                self._change(wanted)
            finally:
                self._write_lock.release()

    def _change(self, limit_mib: int) -> None:
        if self._set_limit(limit_mib):
            self.current_mib = limit_mib
