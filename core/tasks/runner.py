"""JobRunner: claims Queued tasks from the `tasks` table and runs them in a thread pool, under a lease.

One runner per process (`core.services`). A process that runs jobs (role `all` or `worker`) registers the
work of each task kind it can run (`handle`); its loop thread then, every `poll_s` or at once when woken
(a task queued here, a slot freed):

1. every third of `lease_s`: renews the lease of the tasks it runs (the heartbeat) and ends the tasks whose
   lease ran out, whoever claimed them (`jobs.expire_leases`),
2. claims Queued tasks of its kinds while it has a free thread (`jobs.claim`) and runs them.

A runner that does not claim (role `web`) only queues: the task runs in a worker process. `wait` reads the
task's row, so it works wherever the task runs. `shutdown` stops claiming, gives the tasks in flight
`grace_s` to end, and ends the rest `Not completed` at once (`jobs.release`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from core.errors import UserError
from core.store.database import Store
from core.tasks import jobs
from core.tasks.jobs import Counts, Enqueued, Request, Task, TaskContext, TaskFailed, Work

log = logging.getLogger(__name__)

LEASE_S = 60.0  # a task whose runner has not renewed it for this long is Not completed
POLL_S = 1.0  # how often an idle runner looks for Queued tasks (a task queued in this process wakes it)
_WAIT_POLL_S = 0.2  # how often `wait` reads a task's status


class JobRunner:
    """Claims and runs tasks of the kinds it handles; each task runs once, in one runner, under a lease."""

    def __init__(
        self,
        store: Store,
        *,
        max_workers: int = 2,
        lease_s: float = LEASE_S,
        poll_s: float = POLL_S,
        claims: bool = True,
        name: str | None = None,
    ) -> None:
        self._store = store
        self.name = name or jobs.runner_name()  # `claimed_by` of the tasks it runs
        self.claims = claims
        self._max_workers = max_workers
        self._lease_s = lease_s
        self._poll_s = min(poll_s, lease_s / 3)
        self._handlers: dict[str, Work] = {}
        self._running: dict[int, TaskContext] = {}
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._renewed_at = 0.0
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="pw-task")
        self._thread: threading.Thread | None = None

    # -- what callers use ------------------------------------------------------------------------------

    def handle(self, kind: str, work: Work) -> None:
        """Run Queued tasks of `kind` with `work` (replacing an earlier one); starts claiming if this runner
        claims. Safe to call again (every request does)."""
        with self._lock:
            self._handlers[kind] = work
            start = self.claims and self._thread is None and not self._stopped.is_set()
            if start:
                self._thread = threading.Thread(target=self._loop, name="pw-runner", daemon=True)
        if start:
            assert self._thread is not None
            self._thread.start()
            log.info("Task runner %s claims %s tasks", self.name, ", ".join(self._handlers))
        self._wake.set()

    def enqueue(self, request: Request, *, with_it: Callable[[Enqueued], None] | None = None) -> Enqueued:
        """Queue a task (a row: any runner of the database may run it); a dedupe key already active is joined.
        `with_it` writes in the same transaction (the audit row saying who queued it): both are kept or neither,
        even when the process dies between the two."""
        with self._store.write():
            queued = jobs.enqueue(self._store, request)
            if with_it is not None:
                with_it(queued)
        self._wake.set()  # once committed: a claimer woken earlier would not see the row yet
        return queued

    def active_task(self, dedupe_key: str) -> int | None:
        return jobs.active_task(self._store, dedupe_key)

    def wait(self, task_id: int, timeout: float | None = None) -> str:
        """Block until the task has ended, wherever it runs; returns its final status (TimeoutError after
        `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = jobs.status_of(self._store, task_id)
            if status in jobs.ENDED:
                return status
            left = _WAIT_POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"task {task_id} is still {status}")
            with self._ended:
                self._ended.wait(min(left, _WAIT_POLL_S))

    def shutdown(self, grace_s: float = 0.0) -> None:
        """Stop claiming; give the tasks in flight `grace_s` to end, then end the rest `Not completed`."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(self._poll_s, 1.0) + 5)
        with self._ended:
            self._ended.wait_for(lambda: not self._running, timeout=grace_s)
            left = list(self._running)
        if left:
            with contextlib.suppress(Exception):  # a closed or unreachable store: their lease ends them
                ended = jobs.release(self._store, self.name)
                log.warning("Stopped with %d task(s) still running: %s ended Not completed", len(left), ended)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def running(self) -> list[int]:
        """The ids of the tasks this runner is running."""
        with self._lock:
            return list(self._running)

    # -- the loop ---------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self._beat()
            except Exception:  # the database may be restarting: try again at the next beat
                log.exception("Task runner %s: a beat failed", self.name)
            self._wake.wait(self._poll_s)
            self._wake.clear()

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._renewed_at >= self._lease_s / 3:
            self._renewed_at = now
            self._renew()
            expired = jobs.expire_leases(self._store)
            if expired:
                log.warning("Task(s) %s ended Not completed: their runner stopped renewing the lease", expired)
        while not self._stopped.is_set() and self._free():
            task = jobs.claim(self._store, list(self._handlers), self.name, self._lease_s)
            if task is None:
                return
            self._start(task)

    def _renew(self) -> None:
        held = self.running
        if held:
            lost = set(held) - jobs.renew(self._store, self.name, self._lease_s)
            for task_id in lost:  # its lease ran out and another runner ended it Not completed
                log.warning("Task #%s: lease lost; its status and progress are no longer recorded", task_id)

    def _free(self) -> bool:
        with self._lock:
            return len(self._running) < self._max_workers

    def _start(self, task: Task) -> None:
        ctx = TaskContext(self._store, task)
        with self._lock:
            self._running[task.id] = ctx
            work = self._handlers[task.kind]
        log.info("Task #%s (%s, %s) claimed by %s", task.id, task.kind, task.target, self.name)
        self._pool.submit(self._run, ctx, work)

    def _run(self, ctx: TaskContext, work: Work) -> None:
        status, counts, error = jobs.COMPLETED, Counts(), None
        try:
            counts = work(ctx)
        except TaskFailed as exc:
            status, error = exc.status, str(exc)
        except UserError as exc:  # written for the person (e.g. the database connection was lost): shown as it is
            log.warning("Task #%s not completed: %s", ctx.task_id, exc)
            status, error = jobs.NOT_COMPLETED, str(exc)
        except Exception as exc:  # a task must never stay Running because of a bug
            log.exception("Task #%s crashed", ctx.task_id)
            status, error = jobs.NOT_COMPLETED, f"Unexpected error: {type(exc).__name__}: {exc}"
        try:
            if jobs.finish(self._store, ctx.task_id, status, counts=counts, error=error):
                log.info("Task #%s ended: %s", ctx.task_id, status)
            else:
                log.warning(
                    "Task #%s had been ended elsewhere (its lease ran out): %s not recorded", ctx.task_id, status
                )
        except Exception:  # the store is closed or unreachable: the lease (or the next start) ends the task
            log.exception("Task #%s: could not record its end (%s)", ctx.task_id, status)
        finally:
            with self._ended:
                del self._running[ctx.task_id]
                self._ended.notify_all()
            self._wake.set()
