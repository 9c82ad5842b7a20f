"""Tasks claimed per second by two worker processes sharing one PostgreSQL database (issue 18 §6), for pg_store.

`tasks` Queued no-op tasks are inserted first (`jobs.enqueue`, as a request does); then two processes, each
with a `JobRunner` of its own (the claim path of `python -m core.cli worker`: `jobs.claim` with FOR UPDATE SKIP
LOCKED, two threads each, as a worker runs), are released at the same moment and claim, run and finish them
until none is left. Each worker reports the ids its work ran; every task must have run exactly once (no id
twice, none missing, every task Completed), or the measurement fails. The figure is tasks per second from the
release to the last task's `finished_at`: a claim, a no-op run and a finish per task, so it is the queue's own cost.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from multiprocessing.synchronize import Event

from core.store.database import Store
from core.tasks import jobs
from core.tasks.jobs import Counts, TaskContext
from core.tasks.runner import JobRunner

KIND = "bench_noop"
WORKERS = 2
THREADS_PER_WORKER = 2
POLL_S = 0.05  # an idle runner looks again this often (a finished task wakes its own runner at once anyway)
TIMEOUT_S = 600.0


def _worker(url: str, name: str, ready: Event, go: Event, results: multiprocessing.Queue[list[int]]) -> None:
    """One worker process: claim and run no-op tasks until none is Queued or running, then report the ids run."""
    store = Store(url)
    ran: list[int] = []

    def work(ctx: TaskContext) -> Counts:
        ran.append(ctx.task_id)  # list.append is atomic: the runner's threads share it
        return Counts()

    runner = JobRunner(store, max_workers=THREADS_PER_WORKER, poll_s=POLL_S, name=name)
    ready.set()
    go.wait()
    runner.handle(KIND, work)
    while jobs.any_active(store):
        time.sleep(POLL_S)
    runner.shutdown(grace_s=5.0)
    store.close()
    results.put(ran)


def _enqueue(url: str, tasks: int) -> list[int]:
    store = Store(url)
    try:
        return [
            jobs.enqueue(store, jobs.Request(KIND, f"no-op {n}", "bench@partnerwatch.local", jobs.TRIGGER_CLI)).task_id
            for n in range(tasks)
        ]
    finally:
        store.close()


def _ended(url: str) -> tuple[Counter[str], float]:
    """The tasks' statuses, and when the last one ended (epoch seconds)."""
    store = Store(url)
    try:
        with store.read() as cur:
            rows = cur.execute("SELECT status, count(*) FROM tasks WHERE kind = ? GROUP BY status", [KIND]).fetchall()
            (last,) = cur.execute("SELECT max(finished_at) FROM tasks WHERE kind = ?", [KIND]).fetchone() or (None,)
    finally:
        store.close()
    return Counter({str(status): int(n) for status, n in rows}), last.timestamp() if last is not None else 0.0


def measure(url: str, tasks: int) -> dict[str, object]:
    """Tasks per second claimed and run by `WORKERS` processes on the database at `url`; checks exactly once."""
    queued = _enqueue(url, tasks)
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    results: multiprocessing.Queue[list[int]] = context.Queue()
    readies, processes = [], []
    for n in range(WORKERS):
        ready = context.Event()
        process = context.Process(target=_worker, args=(url, f"bench-worker-{n}", ready, go, results))
        process.start()
        readies.append(ready)
        processes.append(process)
    for ready in readies:
        if not ready.wait(TIMEOUT_S):
            raise RuntimeError("a worker process did not start")
    started = time.time()  # the tasks' finished_at are the workers' wall clock, this machine's
    go.set()
    ran = [results.get(timeout=TIMEOUT_S) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    runs = Counter(task_id for ids in ran for task_id in ids)
    twice = sorted(task_id for task_id, n in runs.items() if n > 1)
    missing = sorted(set(queued) - set(runs))
    statuses, last_ended = _ended(url)
    seconds = last_ended - started
    if twice or missing or statuses != Counter({jobs.COMPLETED: tasks}):
        raise RuntimeError(f"not exactly once: run twice {twice[:5]}, never run {missing[:5]}, statuses {statuses}")
    return {
        "tasks": tasks,
        "workers": WORKERS,
        "threads_per_worker": THREADS_PER_WORKER,
        "seconds": round(seconds, 3),
        "tasks_per_s": round(tasks / seconds, 1),
        "tasks_per_worker": [len(ids) for ids in ran],
        "exactly_once": True,
    }
