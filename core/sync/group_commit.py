"""The group commit of partners' member writes: `write_snapshot` queues a partner's fetched snapshot, and the
`GroupWriter` of its store writes every partner queued by then in one transaction (`member_write.apply_many`),
on one writer thread, each partner still all or nothing.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from core.store.cursor import Cursor
from core.store.database import Store
from core.store.memory import release_freed
from core.sync.errors import SyncHalted
from core.sync.member_tables import Snapshot
from core.sync.member_write import apply_many
from core.sync.safeguard import threshold_pct
from core.tasks.jobs import Counts

log = logging.getLogger(__name__)

# A group commit takes queued partners up to this many fetched members (always at least one partner), so the
# diff of a group holds a bounded number of rows however many partners queue up (benchmarks/RESULTS.md, Memory).
GROUP_MEMBERS = 50_000

# DuckDB's memory limit while a group is written and nothing else reads (`Store.memory_lowered`): its pool fills to
# the limit, and the store's limit is sized for a large export's sort (benchmarks/RESULTS.md, Memory).
WRITE_MEMORY_MIB = 64


def write_snapshot(
    store: Store,
    snapshot: Snapshot,
    partner_name: str,
    task_id: int,
    also_write: Callable[[Cursor], None] | None = None,
) -> Counts:
    """Write a partner's snapshot, all or nothing: `also_write` (in the same transaction), then the members
    diff; raises SyncHalted. Partners written at the same time share a transaction (see `GroupWriter`)."""
    return GroupWriter.of(store).write(_Pending(snapshot, partner_name, task_id, also_write))


@dataclass
class _Pending:
    snapshot: Snapshot
    partner_name: str
    task_id: int
    also_write: Callable[[Cursor], None] | None
    done: threading.Event = field(default_factory=threading.Event)
    result: Counts | None = None
    error: BaseException | None = None


class GroupWriter:
    """Group commit of partners' member writes, one per store.

    A partner's write waits its turn; the thread that gets it has every partner queued by then, up to
    `GROUP_MEMBERS` fetched members, written in one transaction with one set of statements (`apply_many`),
    and the next group after it until its own partner is written; so when fetches outrun the writes the writes
    batch up instead of queueing one transaction each, and a group's memory stays bounded. Each partner stays
    all-or-nothing: one halted by the safeguard is left out before anything is written, and if the shared
    transaction fails, each partner is retried in a transaction of its own so one partner's failure is not
    another's. Every group is written on the writer's own thread (so `write_snapshot` must not be called inside
    a `store.write()` block: that transaction's lock would make the writer wait for its caller).
    """

    _by_store: ClassVar[weakref.WeakKeyDictionary[Store, GroupWriter]] = weakref.WeakKeyDictionary()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        # Every group is written on this one thread, whichever partner's thread leads it: the allocator keeps
        # memory freed by a thread for that thread's later use, so writes taking turns on 8 threads held
        # 8 threads' worth (benchmarks/RESULTS.md, Memory).
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pw-member-write")
        self.batch_sizes: list[int] = []  # for benchmarks and tests
        self.group_members = GROUP_MEMBERS
        # PostgreSQL's memory is the server's: nothing to lower, and a failed group is not written again
        self.write_memory_mib: int | None = WRITE_MEMORY_MIB if store.dialect == "duckdb" else None

    @classmethod
    def of(cls, store: Store) -> GroupWriter:
        with cls._registry_lock:
            writer = cls._by_store.get(store)
            if writer is None:
                writer = cls._by_store[store] = cls(store)
            return writer

    def write(self, item: _Pending) -> Counts:
        with self._queue_lock:
            self._queue.append(item)
        with self._leader:
            while not item.done.is_set():
                with self._queue_lock:
                    batch, self._queue = _group(self._queue, self.group_members)
                self._writer.submit(self._write_batch, batch).result()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _write_batch(self, batch: list[_Pending]) -> None:
        self.batch_sizes.append(len(batch))
        try:
            lowered = self.write_memory_mib
            try:
                self._transaction(batch, lowered)
            except Exception as exc:  # rolled back (out of memory shows as other errors too, e.g. at COMMIT)
                if lowered is None:
                    raise
                # the group again under the store's limit, and so every later group: what the writes pin (the
                # key's index, the updated rows) grows with the members
                log.info("A group write under a %d MiB memory limit failed (%s); the store's from now on", lowered, exc)
                self.write_memory_mib = None
                self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                log.warning(
                    "A grouped member write failed (%s); writing its %d partners one by one",
                    type(exc).__name__,
                    len(batch),
                )
                for item in batch:
                    self._write_batch([item])
        finally:
            release_freed()  # the group's Arrow tables, freed on this thread, go back to the OS
            for item in batch:
                item.done.set()

    def _transaction(self, batch: list[_Pending], memory_mib: int | None = None) -> None:
        """The group in one transaction; under DuckDB's limit lowered to `memory_mib` if given (its commit too)."""
        for item in batch:  # a retry of a failed group starts afresh
            item.result = item.error = None
        now = datetime.now(UTC)
        threshold = threshold_pct(self.store)  # a read: it would put the limit back (`Store.memory_lowered`)
        by_task: dict[int, list[_Pending]] = {}
        for item in batch:
            by_task.setdefault(item.task_id, []).append(item)
        lowered = self.store.memory_lowered(memory_mib) if memory_mib else self.store.memory_raised()
        with lowered, self.store.write() as cur:
            for task_id, items in by_task.items():
                by_bc = {item.snapshot.partner_bc_id: item for item in items}

                def before_write(kept: list[str], by_bc: dict[str, _Pending] = by_bc) -> None:
                    for bc_id in kept:
                        also_write = by_bc[bc_id].also_write
                        if also_write is not None:
                            also_write(cur)

                results = apply_many(
                    cur,
                    [(item.snapshot, item.partner_name) for item in items],
                    task_id=task_id,
                    now=now,
                    threshold=threshold,
                    before_write=before_write,
                )
                for item, result in zip(items, results, strict=True):
                    if isinstance(result, SyncHalted):
                        item.error = result
                    else:
                        item.result = result


def _group(queue: list[_Pending], budget: int) -> tuple[list[_Pending], list[_Pending]]:
    """The queue's head up to `budget` fetched members (at least one partner), and the rest, in order."""
    taken, members = 0, 0
    for item in queue:
        members += len(item.snapshot.members)
        if taken and members > budget:
            break
        taken += 1
    return queue[:taken], queue[taken:]
