"""JobRunner: claims tasks from the table and runs them (statuses, nested jobs, dedupe, crash safety), a
runner that does not claim only queues, and a stop ends the tasks in flight at once."""

import threading

import pytest

from core.tasks import jobs
from core.tasks.jobs import Counts, TaskFailed
from core.tasks.runner import JobRunner


@pytest.fixture
def runner(store):
    r = JobRunner(store, poll_s=0.05)
    yield r
    r.shutdown(grace_s=10)


def _task(store, task_id):
    return jobs.list_tasks(store).set_index("id").loc[task_id]


def _enqueue(runner, kind="k", dedupe_key=None, actor="me"):
    return runner.enqueue(jobs.Request(kind, "t", actor, "Manual", dedupe_key=dedupe_key)).task_id


def test_completed_task_records_counts_and_nested_jobs(store, runner):
    def work(ctx):
        assert ctx.task.params == {"partner_bc_id": None}
        ctx.add_total(2)
        for name in ("a", "b"):
            job = ctx.job("Partner", name)
            job.running()
            job.complete(Counts(added=1))
            ctx.advance()
        return Counts(added=2, updated=1)

    runner.handle("Check for updates", work)
    request = jobs.Request("Check for updates", "All partners", "me", "Manual", {"partner_bc_id": None})
    task_id = runner.enqueue(request).task_id
    assert runner.wait(task_id, timeout=10) == jobs.COMPLETED
    row = _task(store, task_id)
    assert (row["added"], row["updated"], row["removed"]) == (2, 1, 0)
    assert (row["progress_done"], row["progress_total"]) == (2, 2)
    job_rows = jobs.list_jobs(store, task_id)
    assert list(job_rows["target"]) == ["a", "b"]
    assert set(job_rows["status"]) == {jobs.COMPLETED}


def test_task_failed_ends_not_completed_with_reason_and_closes_open_jobs(store, runner):
    def work(ctx):
        ctx.job("Partner", "left open").running()
        raise TaskFailed("Connect your Business Center first.")

    runner.handle("k", work)
    task_id = _enqueue(runner)
    assert runner.wait(task_id, timeout=10) == jobs.NOT_COMPLETED
    assert _task(store, task_id)["error"] == "Connect your Business Center first."
    assert set(jobs.list_jobs(store, task_id)["status"]) == {jobs.NOT_COMPLETED}


def test_a_bug_in_work_never_leaves_a_task_running(store, runner):
    def work(ctx):
        raise ZeroDivisionError("boom")

    runner.handle("k", work)
    task_id = _enqueue(runner)
    assert runner.wait(task_id, timeout=10) == jobs.NOT_COMPLETED
    assert "ZeroDivisionError" in _task(store, task_id)["error"]


def test_same_dedupe_key_runs_once(store, runner):
    release = threading.Event()
    runs: list[int] = []

    def work(ctx):
        runs.append(ctx.task_id)
        release.wait(10)
        return Counts()

    runner.handle("k", work)
    first = _enqueue(runner, dedupe_key="sync", actor="a")
    second = _enqueue(runner, dedupe_key="sync", actor="b")
    assert first == second
    release.set()
    assert runner.wait(first, timeout=10) == jobs.COMPLETED
    third = _enqueue(runner, dedupe_key="sync", actor="c")
    assert third != first
    assert runner.wait(third, timeout=10) == jobs.COMPLETED
    assert runs == [first, third]
    assert len(jobs.list_tasks(store)) == 2


def test_a_runner_that_does_not_claim_only_queues(store, runner):
    web = JobRunner(store, poll_s=0.05, claims=False)
    ran = threading.Event()
    web.handle("k", lambda ctx: ran.set() or Counts())
    task_id = _enqueue(web)
    with pytest.raises(TimeoutError):
        web.wait(task_id, timeout=0.5)
    assert not ran.is_set()
    assert _task(store, task_id)["status"] == jobs.QUEUED
    runner.handle("k", lambda ctx: Counts(added=1))  # a process that runs jobs picks it up
    assert web.wait(task_id, timeout=10) == jobs.COMPLETED
    assert not ran.is_set()
    web.shutdown()


def test_a_stop_ends_the_tasks_in_flight_not_completed_and_leaves_queued_ones_queued(store):
    runner = JobRunner(store, poll_s=0.05, max_workers=1)
    started, release = threading.Event(), threading.Event()

    def work(ctx):
        started.set()
        release.wait(10)
        return Counts()

    runner.handle("k", work)
    running, waiting = _enqueue(runner), _enqueue(runner)
    assert started.wait(10)
    runner.shutdown(grace_s=0)
    release.set()
    assert _task(store, running)["status"] == jobs.NOT_COMPLETED
    assert _task(store, running)["error"] == jobs.INTERRUPTED
    assert _task(store, waiting)["status"] == jobs.QUEUED
