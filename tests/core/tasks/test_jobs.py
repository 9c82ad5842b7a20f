"""The `tasks` table as a queue: enqueue with dedupe, claims, leases (renew, expire, release), rows that only
move forward, and recovery after a dead process on the embedded DuckDB file."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from core.tasks import jobs
from core.tasks.jobs import Counts


def _enqueue(store, kind="k", dedupe_key=None, **params):
    return jobs.enqueue(store, jobs.Request(kind, "t", "me", "Manual", params, dedupe_key))


def _row(store, task_id):
    with store.read() as cur:
        df = cur.execute("SELECT * FROM tasks WHERE id = ?", [task_id]).df()
    return df.iloc[0]


def test_a_request_is_a_queued_row_with_what_its_work_needs(store):
    queued = _enqueue(store, partner_bc_id="7001")
    assert not queued.joined
    task = jobs.claim(store, ["k"], "runner-a", lease_s=30)
    assert task == jobs.Task(queued.task_id, "k", "t", "me", "Manual", {"partner_bc_id": "7001"})
    row = _row(store, queued.task_id)
    assert (row["status"], row["claimed_by"]) == (jobs.STARTED, "runner-a")
    assert row["lease_until"] > datetime.now(UTC) + timedelta(seconds=25)


def test_a_dedupe_key_is_joined_while_active_and_free_once_the_task_ended(store):
    first = _enqueue(store, dedupe_key="sync")
    second = _enqueue(store, dedupe_key="sync")
    assert (second.task_id, second.joined) == (first.task_id, True)
    assert jobs.active_task(store, "sync") == first.task_id
    assert jobs.finish(store, first.task_id, jobs.COMPLETED, counts=Counts(added=1))
    assert jobs.active_task(store, "sync") is None
    third = _enqueue(store, dedupe_key="sync")
    assert not third.joined
    assert third.task_id != first.task_id
    assert _enqueue(store).task_id != _enqueue(store).task_id  # no key: never joined


def test_claims_take_the_oldest_task_of_the_kinds_handled_once(store):
    other = _enqueue(store, kind="other")
    a, b = _enqueue(store), _enqueue(store)
    assert jobs.claim(store, ["k"], "r1", 30).id == a.task_id
    assert jobs.claim(store, ["k"], "r2", 30).id == b.task_id
    assert jobs.claim(store, ["k"], "r1", 30) is None
    assert jobs.claim(store, [], "r1", 30) is None
    assert _row(store, other.task_id)["status"] == jobs.QUEUED


def test_an_expired_lease_ends_the_task_and_its_open_jobs_and_frees_its_key(store):
    queued = _enqueue(store, dedupe_key="sync")
    task = jobs.claim(store, ["k"], "dead-runner", lease_s=30)
    ctx = jobs.TaskContext(store, task)
    ctx.job("Partner", "p1").running()
    assert jobs.expire_leases(store) == []  # still leased
    assert jobs.expire_leases(store, now=datetime.now(UTC) + timedelta(seconds=31)) == [queued.task_id]
    row = _row(store, queued.task_id)
    assert (row["status"], row["error"]) == (jobs.NOT_COMPLETED, jobs.LEASE_EXPIRED)
    assert set(jobs.list_jobs(store, queued.task_id)["status"]) == {jobs.NOT_COMPLETED}
    assert jobs.active_task(store, "sync") is None


def test_renew_extends_only_the_claimers_running_tasks(store):
    mine, theirs = _enqueue(store), _enqueue(store)
    jobs.claim(store, ["k"], "me", lease_s=1)
    jobs.claim(store, ["k"], "them", lease_s=1)
    assert jobs.renew(store, "me", lease_s=60) == {mine.task_id}
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert jobs.expire_leases(store, now=later) == [theirs.task_id]


def test_a_task_that_ended_is_never_changed_again(store):
    queued = _enqueue(store)
    task = jobs.claim(store, ["k"], "late-runner", lease_s=30)
    jobs.expire_leases(store, now=datetime.now(UTC) + timedelta(minutes=1))
    ctx = jobs.TaskContext(store, task)  # the runner that lost its lease carries on
    ctx.status(jobs.RUNNING)
    ctx.add_total(3)
    with pytest.raises(jobs.TaskFailed, match="ended elsewhere"):  # and stops at its next job
        ctx.job("Partner", "p1")
    assert not jobs.finish(store, queued.task_id, jobs.COMPLETED, counts=Counts(added=5))
    row = _row(store, queued.task_id)
    assert (row["status"], row["added"], row["progress_total"]) == (jobs.NOT_COMPLETED, 0, 0)
    assert jobs.list_jobs(store, queued.task_id).empty


def test_release_ends_the_stopping_runners_tasks_at_once(store):
    mine, queued = _enqueue(store), _enqueue(store)
    jobs.claim(store, ["k"], "stopping", lease_s=60)
    assert jobs.release(store, "stopping") == [mine.task_id]
    assert _row(store, mine.task_id)["error"] == jobs.INTERRUPTED
    assert _row(store, queued.task_id)["status"] == jobs.QUEUED  # another runner may still run it


def test_recover_interrupted_marks_active_rows_not_completed(store):
    now = datetime.now(UTC)
    with store.write() as cur:
        for status in (jobs.QUEUED, jobs.RUNNING, jobs.RETRYING, jobs.COMPLETED):
            cur.execute(
                "INSERT INTO tasks (kind, status, created_at, updated_at) VALUES ('k', ?, ?, ?)", [status, now, now]
            )
    keyed = _enqueue(store, dedupe_key="sync")
    assert jobs.recover_interrupted(store) == 4
    statuses = jobs.list_tasks(store)["status"].tolist()
    assert statuses.count(jobs.NOT_COMPLETED) == 4
    assert statuses.count(jobs.COMPLETED) == 1
    assert not jobs.any_active(store)
    assert jobs.active_task(store, "sync") is None
    assert _row(store, keyed.task_id)["status"] == jobs.NOT_COMPLETED
    errors = jobs.list_tasks(store)["error"].dropna().tolist()
    assert all("process stopped" in e for e in errors)


class _Recording:
    """A cursor that records the SQL it runs and runs it without PostgreSQL's row locks (DuckDB has none)."""

    def __init__(self, cur, seen):
        self.cur, self.seen = cur, seen

    def execute(self, sql, params=()):
        self.seen.append(sql)
        return self.cur.execute(sql.replace(" FOR UPDATE SKIP LOCKED", ""), params)


@pytest.mark.parametrize("backend", ["duckdb"], indirect=True)  # the PostgreSQL branch, simulated on DuckDB
def test_claims_lock_rows_with_skip_locked_on_postgresql_only(store, monkeypatch):
    seen: list[str] = []
    real_write = store.write

    @contextmanager
    def recording_write():
        with real_write() as cur:
            yield _Recording(cur, seen)

    _enqueue(store), _enqueue(store)
    monkeypatch.setattr(store, "write", recording_write)
    assert jobs.claim(store, ["k"], "r", 30) is not None
    assert "SKIP LOCKED" not in seen[-1]
    monkeypatch.setattr(store, "dialect", "postgresql", raising=False)
    assert jobs.claim(store, ["k"], "r", 30) is not None
    assert "FOR UPDATE SKIP LOCKED" in seen[-1]


def test_tasks_are_paged_newest_first_without_their_jobs(store):
    ids = []
    for _ in range(5):
        queued = _enqueue(store)
        task = jobs.claim(store, ["k"], "r", 30)
        jobs.TaskContext(store, task).job("Partner", "p1")  # a job: a row of `tasks` that is not listed
        jobs.finish(store, queued.task_id, jobs.COMPLETED)
        ids.append(queued.task_id)
    assert jobs.count_tasks(store) == 5
    newest_first = ids[::-1]
    assert list(jobs.list_tasks(store, limit=2)["id"]) == newest_first[:2]
    assert list(jobs.list_tasks(store, limit=2, offset=2)["id"]) == newest_first[2:4]
    assert list(jobs.list_tasks(store, limit=2, offset=4)["id"]) == newest_first[4:]
    assert jobs.list_tasks(store, limit=2, offset=6).empty
    assert list(jobs.list_jobs(store, ids[0])["job"]) == ["Partner"]


def test_no_tasks_count_zero(store):
    assert jobs.count_tasks(store) == 0
    assert jobs.list_tasks(store).empty
