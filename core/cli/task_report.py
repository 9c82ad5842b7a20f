"""A Check for updates task as the CLI reports it: status, counts, failed jobs and progress, polled until it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.cli.errors import CliFailure
from core.store.database import Store
from core.tasks import jobs

POLL_INTERVAL_S = 0.5  # how often a task is asked how it is going
TASK_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class TaskReport:
    task_id: int
    status: str
    added: int
    updated: int
    removed: int
    error: str | None
    failed_jobs: list[str]
    progress_done: int = 0
    progress_total: int = 0

    @property
    def ok(self) -> bool:
        return self.status == jobs.COMPLETED

    def lines(self) -> list[str]:
        head = (
            f"Check for updates #{self.task_id}: {self.status} "
            f"({self.added} added, {self.updated} updated, {self.removed} removed)"
        )
        tail = [f"  {line}" for line in self.failed_jobs]
        return [head, *([f"  {self.error}"] if self.error else []), *tail]

    def progress_line(self, elapsed_s: float) -> str:
        done = f", {self.progress_done} of {self.progress_total}" if self.progress_total else ""
        return f"Check for updates #{self.task_id}: {self.status}{done} ({elapsed_s:.0f} s)"

    def as_dict(self) -> dict[str, object]:
        return {
            "task_id": self.task_id,
            "status": self.status,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "error": self.error,
            "failed_jobs": self.failed_jobs,
            "progress_done": self.progress_done,
            "progress_total": self.progress_total,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskReport:
        return cls(
            int(data["task_id"]),
            str(data["status"]),
            int(data["added"]),
            int(data["updated"]),
            int(data["removed"]),
            data.get("error"),
            list(data.get("failed_jobs") or []),
            int(data.get("progress_done") or 0),
            int(data.get("progress_total") or 0),
        )


def task_report(store: Store, task_id: int) -> TaskReport:
    """A task's status, counts, error and its failed jobs (also served to a remote CLI)."""
    tasks = jobs.list_tasks(store, limit=10_000)
    row = tasks[tasks["id"] == task_id]
    if row.empty:
        raise CliFailure(f"Task #{task_id} does not exist.")
    task = row.iloc[0]
    job_rows = jobs.list_jobs(store, task_id)
    failed = [f"{j.target}: {j.error!s}" for j in job_rows.itertuples() if j.status == jobs.NOT_COMPLETED and j.error]
    return TaskReport(
        task_id,
        str(task["status"]),
        int(task["added"]),
        int(task["updated"]),
        int(task["removed"]),
        None if task["error"] is None or task["error"] != task["error"] else str(task["error"]),
        failed,
        _count(task["progress_done"]),
        _count(task["progress_total"]),
    )


def _count(value: object) -> int:
    return 0 if value is None or value != value else int(value)  # type: ignore[call-overload]


Progress = Callable[[TaskReport], None]


def follow(report: Callable[[], TaskReport], wait: Callable[[], None], on_progress: Progress) -> TaskReport:
    """Poll a task until it ends (or TASK_TIMEOUT_S), telling `on_progress` while it is active."""
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while True:
        current = report()
        if current.status not in jobs.ACTIVE or time.monotonic() > deadline:
            return current
        on_progress(current)
        wait()
