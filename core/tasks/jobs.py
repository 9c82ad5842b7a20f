"""Background automation tasks with nested jobs, persisted in the `tasks` table.

A *task* is one "Check for updates" (or another automation); its *jobs* are rows with `parent_id` set
(one per partner, plus the partner list). Work runs in a process-wide thread pool and reports through a
`TaskContext`; nothing here knows about Streamlit. Statuses are the product's exact labels.

Only one process opens the DuckDB file, so any task still active when the store opens belongs to a
process that died: `recover_interrupted` marks it `Not completed`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
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

TRIGGER_MANUAL = "Manual"
TRIGGER_POLICY = "Workspace policy"
TRIGGER_CONNECT = "Partner connected"
TRIGGER_CLI = "Command line"

_PROGRESS_MIN_INTERVAL_S = 0.25


def _now() -> datetime:
    return datetime.now(UTC)


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


def _insert_row(
    store: Store, *, parent_id: int | None, kind: str, target: str, actor: str, trigger: str, status: str
) -> int:
    now = _now()
    with store.write() as cur:
        row = cur.execute(
            """INSERT INTO tasks (parent_id, kind, target, actor, trigger, status, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [parent_id, kind, target, actor, trigger, status, now, now],
        ).fetchone()
    assert row is not None  # INSERT … RETURNING returns the inserted row
    return int(row[0])


def _update_row(store: Store, row_id: int, **fields: object) -> None:
    fields["updated_at"] = _now()
    names = ", ".join(f"{name} = ?" for name in fields)  # names come from this module only
    with store.write() as cur:
        cur.execute(f"UPDATE tasks SET {names} WHERE id = ?", [*fields.values(), row_id])


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
    """What running work sees: its task id, progress reporting and nested jobs."""

    def __init__(self, store: Store, task_id: int) -> None:
        self._store = store
        self.task_id = task_id
        self._lock = threading.Lock()
        self._done = 0
        self._total = 0

    def job(self, kind: str, target: str) -> JobHandle:
        row = _store_task(self._store, self.task_id)
        job_id = _insert_row(
            self._store,
            parent_id=self.task_id,
            kind=kind,
            target=target,
            actor=row["actor"],
            trigger=row["trigger"],
            status=QUEUED,
        )
        return JobHandle(self._store, job_id)

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


def _store_task(store: Store, task_id: int) -> dict[str, Any]:
    with store.read() as cur:
        df = cur.execute("SELECT * FROM tasks WHERE id = ?", [task_id]).df()
    if df.empty:
        raise KeyError(f"task {task_id} does not exist")
    return {str(column): value for column, value in df.iloc[0].items()}


class JobRunner:
    """Process-wide pool of background tasks; a task with the same dedupe key is never run twice at once."""

    def __init__(self, store: Store, *, max_workers: int = 2) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="pw-task")
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._futures: dict[int, Future[None]] = {}

    def submit(
        self, work: Work, *, kind: str, target: str, actor: str, trigger: str, dedupe_key: str | None = None
    ) -> int:
        """Queue `work`; returns the task id (the already active one when `dedupe_key` is taken)."""
        with self._lock:
            if dedupe_key and dedupe_key in self._active:
                return self._active[dedupe_key]
            task_id = _insert_row(
                self._store, parent_id=None, kind=kind, target=target, actor=actor, trigger=trigger, status=QUEUED
            )
            if dedupe_key:
                self._active[dedupe_key] = task_id
            self._futures[task_id] = self._pool.submit(self._run, task_id, work, dedupe_key)
        return task_id

    def active_task(self, dedupe_key: str) -> int | None:
        with self._lock:
            return self._active.get(dedupe_key)

    def wait(self, task_id: int, timeout: float | None = None) -> str:
        """Block until the task ends (tests, CLI); returns its final status."""
        future = self._futures.get(task_id)
        if future is not None:
            future.result(timeout=timeout)
        return str(_store_task(self._store, task_id)["status"])

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _run(self, task_id: int, work: Work, dedupe_key: str | None) -> None:
        ctx = TaskContext(self._store, task_id)
        try:
            _update_row(self._store, task_id, status=STARTED, started_at=_now())
            counts = work(ctx)
            _update_row(
                self._store,
                task_id,
                status=COMPLETED,
                finished_at=_now(),
                added=counts.added,
                updated=counts.updated,
                removed=counts.removed,
            )
        except TaskFailed as exc:
            _finish_failed(self._store, task_id, str(exc), exc.status)
        except Exception as exc:  # a task must never stay Running because of a bug
            log.exception("task %s crashed", task_id)
            _finish_failed(self._store, task_id, f"Unexpected error: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                if dedupe_key and self._active.get(dedupe_key) == task_id:
                    del self._active[dedupe_key]


def _finish_failed(store: Store, task_id: int, error: str, status: str = NOT_COMPLETED) -> None:
    _update_row(store, task_id, status=status, finished_at=_now(), error=error)
    with store.write() as cur:
        cur.execute(
            """UPDATE tasks SET status = ?, finished_at = ?, updated_at = ?,
                      error = coalesce(error, 'Stopped because the task did not complete.')
               WHERE parent_id = ? AND status IN (?, ?, ?, ?)""",
            [NOT_COMPLETED, _now(), _now(), task_id, *ACTIVE],
        )


def recover_interrupted(store: Store) -> int:
    """Mark tasks and jobs left active by a dead process `Not completed`; returns how many."""
    reason = "Interrupted: the PartnerWatch process stopped before this finished."
    with store.write() as cur:
        rows = cur.execute(
            """UPDATE tasks SET status = ?, error = coalesce(error, ?), finished_at = ?, updated_at = ?
               WHERE status IN (?, ?, ?, ?) RETURNING id""",
            [NOT_COMPLETED, reason, _now(), _now(), *ACTIVE],
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


def list_tasks(store: Store, *, limit: int = 100) -> pd.DataFrame:
    """Newest tasks first, with the Automation page's columns."""
    with store.read() as cur:
        return cur.execute(
            """SELECT id, status, target, actor, kind AS task, trigger, created_at, updated_at,
                      progress_done, progress_total, added, updated, removed, error
               FROM tasks WHERE parent_id IS NULL ORDER BY id DESC LIMIT ?""",
            [limit],
        ).df()


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
