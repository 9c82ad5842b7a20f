"""JobRunner: statuses, nested jobs, dedupe, crash safety and recovery after a dead process."""

import threading
from datetime import UTC, datetime

import pytest

from core.tasks import jobs
from core.tasks.jobs import Counts, JobRunner, TaskFailed


@pytest.fixture
def runner(store):
    r = JobRunner(store)
    yield r
    r.shutdown(wait=True)


def _task(store, task_id):
    return jobs.list_tasks(store).set_index("id").loc[task_id]


def test_completed_task_records_counts_and_nested_jobs(store, runner):
    def work(ctx):
        ctx.add_total(2)
        for name in ("a", "b"):
            job = ctx.job("Partner", name)
            job.running()
            job.complete(Counts(added=1))
            ctx.advance()
        return Counts(added=2, updated=1)

    task_id = runner.submit(work, kind="Check for updates", target="All partners", actor="me", trigger="Manual")
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

    task_id = runner.submit(work, kind="k", target="t", actor="me", trigger="Manual")
    assert runner.wait(task_id, timeout=10) == jobs.NOT_COMPLETED
    assert _task(store, task_id)["error"] == "Connect your Business Center first."
    assert set(jobs.list_jobs(store, task_id)["status"]) == {jobs.NOT_COMPLETED}


def test_a_bug_in_work_never_leaves_a_task_running(store, runner):
    def work(ctx):
        raise ZeroDivisionError("boom")

    task_id = runner.submit(work, kind="k", target="t", actor="me", trigger="Manual")
    assert runner.wait(task_id, timeout=10) == jobs.NOT_COMPLETED
    assert "ZeroDivisionError" in _task(store, task_id)["error"]


def test_same_dedupe_key_runs_once(store, runner):
    release = threading.Event()

    def work(ctx):
        release.wait(10)
        return Counts()

    first = runner.submit(work, kind="k", target="t", actor="a", trigger="Manual", dedupe_key="sync")
    second = runner.submit(work, kind="k", target="t", actor="b", trigger="Manual", dedupe_key="sync")
    assert first == second
    release.set()
    assert runner.wait(first, timeout=10) == jobs.COMPLETED
    third = runner.submit(lambda ctx: Counts(), kind="k", target="t", actor="c", trigger="Manual", dedupe_key="sync")
    assert third != first
    assert len(jobs.list_tasks(store)) == 2


def test_recover_interrupted_marks_active_rows_not_completed(store):
    now = datetime.now(UTC)
    with store.write() as cur:
        for status in (jobs.QUEUED, jobs.RUNNING, jobs.RETRYING, jobs.COMPLETED):
            cur.execute(
                "INSERT INTO tasks (kind, status, created_at, updated_at) VALUES ('k', ?, ?, ?)", [status, now, now]
            )
    assert jobs.recover_interrupted(store) == 3
    statuses = jobs.list_tasks(store)["status"].tolist()
    assert statuses.count(jobs.NOT_COMPLETED) == 3
    assert statuses.count(jobs.COMPLETED) == 1
    assert not jobs.any_active(store)
    errors = jobs.list_tasks(store)["error"].dropna().tolist()
    assert all("process stopped" in e for e in errors)
