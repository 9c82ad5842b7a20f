"""Background automation tasks with nested jobs: the `tasks` table, which is also the queue.

A *task* is one "Check for updates" (or another automation); its *jobs* are rows with `parent_id` set (one
per partner, plus the partner list). A request inserts the task `Queued` with what its work needs (`enqueue` a
`Request`: kind, target, actor, trigger and `params`); a `core.tasks.runner.JobRunner` in a process that runs jobs
claims it (`claim`: one transaction, `FOR UPDATE SKIP LOCKED` on PostgreSQL), so each task runs once
whichever processes share the database. The claimer holds a lease (`lease_until`) that it renews while the
work runs (`renew`); a task whose lease ran out belongs to a process that died and ends `Not completed`
(`expire_leases`). While a task is Queued or running its dedupe key is in `active_key` (unique), so a
second request joins it from any process. Progress is written as it happens, so every process shows it.
Nothing here knows about Streamlit; statuses are the product's exact labels.

Rows only move forward: an update never touches a task or job that has ended (`_update_row`), so a process
that lost its lease cannot bring its task back to life.

An embedded DuckDB file is one process, so there any task still active when the store opens belongs to a
process that died: `recover_interrupted` ends it at once instead of when its lease runs out.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from core.errors import UserError
from core.store.database import Store

log = logging.getLogger(__name__)

QUEUED, STARTED, RUNNING, RETRYING = "Queued", "Started", "Running", "Retrying"
COMPLETED, NOT_COMPLETED = "Completed", "Not completed"
HALTED = "Halted: safeguard"  # the mass-removal safeguard held a partner's sync back; nothing of it was applied
STATUSES = (QUEUED, STARTED, RUNNING, RETRYING, COMPLETED, NOT_COMPLETED, HALTED)
ACTIVE = (QUEUED, STARTED, RUNNING, RETRYING)
CLAIMED = (STARTED, RUNNING, RETRYING)  # a runner holds the task's lease
ENDED = (COMPLETED, NOT_COMPLETED, HALTED)

TRIGGER_MANUAL = "Manual"
TRIGGER_POLICY = "Workspace policy"
TRIGGER_CONNECT = "Partner connected"
TRIGGER_CLI = "Command line"

INTERRUPTED = "Interrupted: the PartnerWatch process stopped before this finished."
LEASE_EXPIRED = "Interrupted: the process running this task stopped answering (its lease ran out)."
JOB_STOPPED = "Stopped because the task did not complete."

_PROGRESS_MIN_INTERVAL_S = 0.25


def _now() -> datetime:
    return datetime.now(UTC)


def dialect(store: Store) -> str:
    """ "duckdb" or "postgresql" (a Store without the attribute is the embedded DuckDB one)."""
    return str(getattr(store, "dialect", "duckdb"))


def process_name() -> str:
    """This process as a claimer: host/pid."""
    return f"{socket.gethostname()}/{os.getpid()}"


def runner_name() -> str:
    """A claimer name unique to one runner (several may run in one process: tests, a CLI inside the app)."""
    return f"{process_name()}/{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Counts:
    added: int = 0
    updated: int = 0
    removed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.added + other.added, self.updated + other.updated, self.removed + other.removed)


class TaskFailed(UserError):
    """Raised by work to end its task `Not completed` with a user-facing reason."""

    status = NOT_COMPLETED


class TaskHalted(TaskFailed):
    """Raised by work to end its task `Halted: safeguard` (a protective stop, not a failure)."""

    status = HALTED


@dataclass(frozen=True)
class Request:
    """A task to queue: what its work needs (any process that runs jobs may claim it)."""

    kind: str
    target: str
    actor: str
    trigger: str
    params: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None  # while a task holding it is Queued or running, a new request joins that task


@dataclass(frozen=True)
class Task:
    """A claimed task: what its work needs, as the request stored it."""

    id: int
    kind: str
    target: str
    actor: str
    trigger: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Enqueued:
    task_id: int
    joined: bool  # a task with the same dedupe key was already queued or running: this is that one


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _insert_job(store: Store, task: Task, kind: str, target: str) -> int:
    """A Queued job of `task`; TaskFailed when the task has ended (its lease ran out: its process stops here)."""
    now = _now()
    with store.write() as cur:
        row = cur.execute(
            f"""INSERT INTO tasks (parent_id, kind, target, actor, trigger, status, created_at, updated_at)
                SELECT ?, ?, ?, ?, ?, ?, ?, ?
                WHERE EXISTS (SELECT 1 FROM tasks WHERE id = ? AND status IN ({_placeholders(ACTIVE)}))
                RETURNING id""",
            [task.id, kind, target, task.actor, task.trigger, QUEUED, now, now, task.id, *ACTIVE],
        ).fetchone()
    if row is None:
        raise TaskFailed(f"Task #{task.id} was ended elsewhere (its lease ran out): no further job starts.")
    return int(row[0])


def _update_row(store: Store, row_id: int, **fields: object) -> bool:
    """Update a task or job that has not ended (an ending status also frees its dedupe key); False when it
    had ended already (e.g. its lease ran out and another process ended it)."""
    fields["updated_at"] = _now()
    if fields.get("status") in ENDED:
        fields["active_key"] = None
    names = ", ".join(f"{name} = ?" for name in fields)  # names come from this module only
    with store.write() as cur:
        row = cur.execute(
            f"UPDATE tasks SET {names} WHERE id = ? AND status IN ({_placeholders(ACTIVE)}) RETURNING id",
            [*fields.values(), row_id, *ACTIVE],
        ).fetchone()
    return row is not None


def enqueue(store: Store, request: Request) -> Enqueued:
    """Insert a Queued task, or return the active one holding the request's dedupe key (from any process)."""
    r, now = request, _now()
    for _ in range(3):  # the active task may end between the refused insert and the look-up
        with store.write() as cur:
            row = cur.execute(
                """INSERT INTO tasks (kind, target, actor, trigger, status, params, active_key, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (active_key) DO NOTHING RETURNING id""",
                [r.kind, r.target, r.actor, r.trigger, QUEUED, json.dumps(r.params), r.dedupe_key, now, now],
            ).fetchone()
        if row is not None:
            return Enqueued(int(row[0]), joined=False)
        assert r.dedupe_key is not None  # only a dedupe key can conflict
        active = active_task(store, r.dedupe_key)
        if active is not None:
            return Enqueued(active, joined=True)
    raise RuntimeError(f"could not queue a {r.kind} task: its dedupe key {r.dedupe_key!r} stays taken")


def active_task(store: Store, dedupe_key: str) -> int | None:
    """The Queued or running task holding `dedupe_key`, from any process."""
    with store.read() as cur:
        row = cur.execute("SELECT id FROM tasks WHERE active_key = ?", [dedupe_key]).fetchone()
    return None if row is None else int(row[0])


def claim(store: Store, kinds: Sequence[str], claimed_by: str, lease_s: float) -> Task | None:
    """Take the oldest Queued task of `kinds` (Started, with a lease), or None. One statement in one
    transaction; on PostgreSQL the row is locked with SKIP LOCKED, so claimers never wait for one another."""
    queued = f"parent_id IS NULL AND status = ? AND kind IN ({_placeholders(kinds)})"
    with store.read() as cur:  # an idle runner polls without taking the write lock
        if not kinds or cur.execute(f"SELECT 1 FROM tasks WHERE {queued} LIMIT 1", [QUEUED, *kinds]).fetchone() is None:
            return None
    lock = " FOR UPDATE SKIP LOCKED" if dialect(store) == "postgresql" else ""
    now = _now()
    with store.write() as cur:
        row = cur.execute(
            f"""UPDATE tasks SET status = ?, claimed_by = ?, lease_until = ?, started_at = ?, updated_at = ?
                WHERE id = (SELECT id FROM tasks WHERE {queued} ORDER BY id LIMIT 1{lock})
                  AND status = ?
                RETURNING id, kind, target, actor, trigger, params""",
            [STARTED, claimed_by, now + timedelta(seconds=lease_s), now, now, QUEUED, *kinds, QUEUED],
        ).fetchone()
    if row is None:
        return None
    task_id, kind, target, actor, trigger, params = row
    return Task(int(task_id), str(kind), str(target), str(actor), str(trigger), json.loads(params or "{}"))


def renew(store: Store, claimed_by: str, lease_s: float) -> set[int]:
    """The heartbeat: extend the lease of every task `claimed_by` still runs; returns their ids."""
    with store.write() as cur:
        rows = cur.execute(
            f"""UPDATE tasks SET lease_until = ?
                WHERE parent_id IS NULL AND claimed_by = ? AND status IN ({_placeholders(CLAIMED)})
                RETURNING id""",
            [_now() + timedelta(seconds=lease_s), claimed_by, *CLAIMED],
        ).fetchall()
    return {int(row[0]) for row in rows}


def expire_leases(store: Store, now: datetime | None = None) -> list[int]:
    """End the running tasks whose lease ran out (their process died or lost the database) `Not completed`,
    with their open jobs; returns their ids."""
    return _end_claimed(store, "lease_until < ?", [now or _now()], LEASE_EXPIRED)


def release(store: Store, claimed_by: str) -> list[int]:
    """A runner that stops ends the tasks it still runs `Not completed` (rather than when their lease runs out)."""
    return _end_claimed(store, "claimed_by = ?", [claimed_by], INTERRUPTED)


def _end_claimed(store: Store, condition: str, values: list[object], reason: str) -> list[int]:
    now = _now()
    with store.write() as cur:
        rows = cur.execute(
            f"""UPDATE tasks SET status = ?, error = coalesce(error, ?), finished_at = ?, updated_at = ?,
                                 active_key = NULL
                WHERE parent_id IS NULL AND status IN ({_placeholders(CLAIMED)}) AND {condition}
                RETURNING id""",
            [NOT_COMPLETED, reason, now, now, *CLAIMED, *values],
        ).fetchall()
        ended = [int(row[0]) for row in rows]
        _end_open_jobs(cur, ended, now)
    return ended


def _end_open_jobs(cur: Any, task_ids: Sequence[int], now: datetime) -> None:
    if task_ids:
        cur.execute(
            f"""UPDATE tasks SET status = ?, finished_at = ?, updated_at = ?, error = coalesce(error, ?)
                WHERE parent_id IN ({_placeholders(task_ids)}) AND status IN ({_placeholders(ACTIVE)})""",
            [NOT_COMPLETED, now, now, JOB_STOPPED, *task_ids, *ACTIVE],
        )


def finish(store: Store, task_id: int, status: str, *, counts: Counts = Counts(), error: str | None = None) -> bool:
    """End a task (and, unless it completed, its open jobs) in one transaction; False when it had ended."""
    now = _now()
    with store.write() as cur:
        row = cur.execute(
            f"""UPDATE tasks SET status = ?, finished_at = ?, updated_at = ?, added = ?, updated = ?, removed = ?,
                                 error = ?, active_key = NULL
                WHERE id = ? AND status IN ({_placeholders(ACTIVE)}) RETURNING id""",
            [status, now, now, counts.added, counts.updated, counts.removed, error, task_id, *ACTIVE],
        ).fetchone()
        if row is not None and status != COMPLETED:
            _end_open_jobs(cur, [task_id], now)
    return row is not None


def status_of(store: Store, task_id: int) -> str:
    with store.read() as cur:
        row = cur.execute("SELECT status FROM tasks WHERE id = ?", [task_id]).fetchone()
    if row is None:
        raise KeyError(f"task {task_id} does not exist")
    return str(row[0])


class JobHandle:
    """One nested job (a row whose parent is the task)."""

    def __init__(self, store: Store, row_id: int) -> None:
        self._store = store
        self.id = row_id
        self._last_progress = 0.0

    def running(self) -> None:
        _update_row(self._store, self.id, status=RUNNING, started_at=_now())

    def progress(self, done: int, total: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= _PROGRESS_MIN_INTERVAL_S:
            self._last_progress = now
            _update_row(self._store, self.id, progress_done=done, progress_total=total)

    def complete(self, counts: Counts = Counts(), detail: str | None = None) -> None:
        _update_row(
            self._store,
            self.id,
            status=COMPLETED,
            finished_at=_now(),
            added=counts.added,
            updated=counts.updated,
            removed=counts.removed,
            detail=detail,
        )

    def fail(self, error: str, *, status: str = NOT_COMPLETED) -> None:
        _update_row(self._store, self.id, status=status, finished_at=_now(), error=error)


class TaskContext:
    """What running work sees: its task (as requested), progress reporting and nested jobs."""

    def __init__(self, store: Store, task: Task) -> None:
        self._store = store
        self.task = task
        self._lock = threading.Lock()
        self._done = 0
        self._total = 0

    @property
    def task_id(self) -> int:
        return self.task.id

    def job(self, kind: str, target: str) -> JobHandle:
        return JobHandle(self._store, _insert_job(self._store, self.task, kind, target))

    def add_total(self, n: int) -> None:
        with self._lock:
            self._total += n
            done, total = self._done, self._total
        _update_row(self._store, self.task_id, progress_total=total, progress_done=done)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._done += n
            done, total = self._done, self._total
        _update_row(self._store, self.task_id, progress_done=done, progress_total=total)

    def status(self, status: str, detail: str | None = None) -> None:
        _update_row(self._store, self.task_id, status=status, detail=detail)


Work = Callable[[TaskContext], Counts]


def recover_interrupted(store: Store) -> int:
    """Mark tasks and jobs left active by a dead process `Not completed`; returns how many. Only for the
    embedded DuckDB file, which one process opens: on a shared database the others' tasks are alive."""
    with store.write() as cur:
        rows = cur.execute(
            f"""UPDATE tasks SET status = ?, error = coalesce(error, ?), finished_at = ?, updated_at = ?,
                                 active_key = NULL
               WHERE status IN ({_placeholders(ACTIVE)}) RETURNING id""",
            [NOT_COMPLETED, INTERRUPTED, _now(), _now(), *ACTIVE],
        ).fetchall()
    return len(rows)


TASK_COLUMNS = (
    "id",
    "status",
    "target",
    "actor",
    "task",
    "trigger",
    "created_at",
    "updated_at",
    "progress_done",
    "progress_total",
    "added",
    "updated",
    "removed",
    "error",
)


def list_tasks(store: Store, *, limit: int = 100, offset: int = 0) -> pd.DataFrame:
    """Newest tasks first, with the Automation page's columns: `limit` of them after the `offset` newest."""
    with store.read() as cur:
        return cur.execute(
            """SELECT id, status, target, actor, kind AS task, trigger, created_at, updated_at,
                      progress_done, progress_total, added, updated, removed, error
               FROM tasks WHERE parent_id IS NULL ORDER BY id DESC LIMIT ? OFFSET ?""",
            [limit, offset],
        ).df()


def count_tasks(store: Store) -> int:
    """How many tasks `list_tasks` pages through (jobs not counted)."""
    with store.read() as cur:
        row = cur.execute("SELECT count(*) FROM tasks WHERE parent_id IS NULL").fetchone()
    return int(row[0]) if row else 0


def list_jobs(store: Store, task_id: int) -> pd.DataFrame:
    with store.read() as cur:
        return cur.execute(
            """SELECT id, status, target, kind AS job, created_at, updated_at, progress_done,
                      progress_total, added, updated, removed, error, detail
               FROM tasks WHERE parent_id = ? ORDER BY id""",
            [task_id],
        ).df()


def any_active(store: Store) -> bool:
    with store.read() as cur:
        row = cur.execute(
            "SELECT count(*) FROM tasks WHERE parent_id IS NULL AND status IN (?, ?, ?, ?)", list(ACTIVE)
        ).fetchone()
    return bool(row and row[0])
