"""Concurrency: 20 simultaneous sessions (AppTest in threads, sharing the process's Services as production
does) browse Partners, Members and Automation and export CSV while two Check for updates requests race.
Exactly one sync runs and completes, no session or thread sees a database error, and every read shows each
partner either as the last committed sync left it or as the new sync leaves it, never half-applied.

Several processes on one database: two runners claim disjoint tasks (each runs once), two schedulers fire the
daily sync once, and a web replica only queues while a worker runs the task, its progress live on the web."""

from __future__ import annotations

import contextlib
import csv
import io
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import time as dt_time

import pytest
import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest, local_script_runner
from streamlit.testing.v1 import app_test as app_test_module
from streamlit.testing.v1.util import patch_config_options

from core import services as core_services
from core.config.process_roles import ROLE_WEB, ROLE_WORKER
from core.members import export, paging
from core.members.filters import MemberFilter
from core.security import safe_csv
from core.services import Services
from core.store.database import Store
from core.sync import check_for_updates, schedule
from core.tasks import jobs
from core.tasks.runner import JobRunner
from tests.support.pages import SHELL as SHELL_PATH
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ADMIN_ACTOR, ANALYST_ACTOR, replica

SHELL = "../../ui/shell.py"
SESSIONS = 20
POLL_S = 0.3  # after browsing, each session checks a snapshot this often until the sync has finished

Keys = dict[str, frozenset[str]]  # partner BC id → keys of its current guest users


@pytest.fixture
def overlapping_apptests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let AppTest runs overlap in threads like the sessions of one server. AppTest builds a mock Runtime
    and a script cache per run and swaps process globals around it (`Runtime._instance`, the option
    `global.appTest`), resetting them when the run ends, under the other runs still in flight ("Runtime
    hasn't been created!", lazy dataframes, concurrent `compile` of the pages, which CPython 3.11 does not
    survive). Here, as in a real server, all runs share one runtime (a run that finds none uses the last
    one installed) and one script cache, and the option stays on. Script execution itself is untouched."""
    last: list[Runtime] = []

    def instance(cls: type[Runtime]) -> Runtime:
        current = cls._instance
        if current is not None:
            last[:] = [current]
            return current
        if last:
            return last[0]
        raise RuntimeError("Runtime hasn't been created!")

    scripts = ScriptCache()
    monkeypatch.setattr(Runtime, "instance", classmethod(instance))
    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: cls._instance is not None or bool(last)))
    for module in (app_test_module, local_script_runner):
        monkeypatch.setattr(module, "ScriptCache", lambda: scripts)
    monkeypatch.setattr(app_test_module, "patch_config_options", lambda _options: contextlib.nullcontext())
    with patch_config_options({"global.appTest": True}):
        yield


@dataclass
class Observed:
    """What the threads saw: how many reads checked, and how many of them while the sync was active."""

    reads: int = 0
    during_sync: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, active: bool) -> None:
        with self.lock:
            self.reads += 1
            self.during_sync += active


def _current_keys(store: Store) -> Keys:
    with store.read() as cur:
        rows = cur.execute("""SELECT partner_bc_id, member_key FROM members WHERE removed_at IS NULL""").fetchall()
    keys: dict[str, set[str]] = {}
    for bc_id, key in rows:
        keys.setdefault(bc_id, set()).add(key)
    return {bc_id: frozenset(found) for bc_id, found in keys.items()}


def _change_every_partner(sandbox) -> None:
    """Partner i gains i + 1 guest users and one member changes role: a sync has something to write."""
    for i, info in enumerate(monitored_partners(sandbox)):
        for j in range(i + 1):
            control(
                sandbox,
                "members/add",
                bc_id=info.bc_id,
                user_email=f"wave{i}.{j}@late.example",
                user_name=f"Wave {i}.{j} ünïcødé",
                user_role="STANDARD",
            )
        first = next(m for m in sandbox.world.members(info.bc_id) if m.user_id)
        control(
            sandbox,
            "members/update",
            bc_id=info.bc_id,
            user_id=first.user_id,
            user_role="STANDARD" if first.user_role == "ADMIN" else "ADMIN",
        )


class States:
    """The two committed states each partner may be seen in: before the sync and after it."""

    def __init__(self, before: Keys, after: Keys) -> None:
        self.before, self.after = before, after

    def check_partner(self, bc_id: str, keys: frozenset[str], where: str) -> None:
        assert keys in (self.before.get(bc_id, frozenset()), self.after.get(bc_id, frozenset())), (
            f"{where}: partner {bc_id} shows {len(keys)} guest users, neither the {len(self.before[bc_id])} "
            f"before the sync nor the {len(self.after[bc_id])} after it"
        )

    def check_counts(self, counts: dict[str, int], where: str) -> None:
        for bc_id in self.before:
            allowed = {len(self.before[bc_id]), len(self.after[bc_id])}
            assert counts.get(bc_id, 0) in allowed, f"{where}: {bc_id} counted {counts.get(bc_id)}, not {allowed}"

    def total_range(self) -> tuple[int, int]:
        low = sum(min(len(self.before[b]), len(self.after[b])) for b in self.before)
        high = sum(max(len(self.before[b]), len(self.after[b])) for b in self.before)
        return low, high


def _check_snapshot(svc: Services, states: States) -> None:
    """One read transaction: each partner's members equal one committed state, and its member_syncs row
    (written in the same transaction as the members) counts exactly them."""
    with svc.store.read() as cur:
        rows = cur.execute("SELECT partner_bc_id, member_key FROM members WHERE removed_at IS NULL").fetchall()
        latest = dict(
            cur.execute("""SELECT partner_bc_id, arg_max(members, synced_at) FROM member_syncs
                                     GROUP BY partner_bc_id""").fetchall()
        )
    keys: dict[str, set[str]] = {}
    for bc_id, key in rows:
        keys.setdefault(bc_id, set()).add(key)
    for bc_id in states.before:
        found = frozenset(keys.get(bc_id, set()))
        states.check_partner(bc_id, found, "snapshot")
        assert latest[bc_id] == len(found), f"member_syncs says {latest[bc_id]}, members has {len(found)}"


def _check_export(svc: Services, states: States) -> None:
    """The CSV export (one read snapshot, streamed) lists each partner in one committed state."""
    data = b"".join(export.stream_members(svc.store, MemberFilter(), actor=ANALYST_ACTOR)).decode("utf-8")
    keys: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(data, newline="")):
        keys.setdefault(row["Partner BC ID"], set()).add(row["User ID"] or row["Email"].lower())
    for bc_id in states.before:
        expected = [{safe_csv.safe_cell(k) for k in state[bc_id]} for state in (states.before, states.after)]
        assert keys.get(bc_id, set()) in expected, f"export: partner {bc_id} is half-applied"


def _browse(states: States, automation: bool) -> None:
    """One session: Partners (per-partner guest user counts), Members (count and page agree), and
    Automation for some of them."""
    at = AppTest.from_file(SHELL, default_timeout=60).run()
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe if "guest_users" in d.value.columns]
    assert tables, f"no partner table on {[t.value for t in at.title]}: {[m.value for m in at.markdown]}"
    table = tables[0]
    states.check_counts(dict(zip(table["bc_id"], table["guest_users"], strict=True)), "Partners page")

    at.switch_page("../pages/members.py").run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption if c.value.startswith("Guest users")]
    assert captions, f"no count on {[t.value for t in at.title]}: {[c.value for c in at.caption]} {at.info}"
    caption = captions[0]
    total = int(caption.rsplit(" of ", 1)[1])
    low, high = states.total_range()
    assert low <= total <= high, f"Members page total {total} outside [{low}, {high}]"
    assert caption == f"Guest users 1–{paging.PAGE_SIZE} of {total}"
    assert len(at.dataframe[0].value) == paging.PAGE_SIZE

    if automation:
        at.switch_page("../pages/automation.py").run()
        assert not at.exception, at.exception
        assert "Check for updates" in set(at.dataframe[0].value["task"])


def _session(
    number: int, svc: Services, states: States, start: threading.Barrier, task_done: threading.Event, seen: Observed
) -> int:
    """Browse the three pages and export once, checking snapshots around it; then keep checking snapshots
    (cheap, a few per second) until the sync has finished. Returns how many checks this session made."""
    start.wait(timeout=30)
    checks = 0

    def check(fn: Callable[[Services, States], None]) -> None:
        nonlocal checks
        active = not task_done.is_set()
        fn(svc, states)
        seen.add(active)
        checks += 1

    check(_check_snapshot)
    _browse(states, automation=number % 4 == 0)
    check(_check_export)
    while not task_done.is_set():
        check(_check_snapshot)
        task_done.wait(POLL_S)
    check(_check_export)
    return checks


def _request(svc: Services, start: threading.Barrier) -> int:
    start.wait(timeout=30)
    return check_for_updates.request(svc, actor=ADMIN_ACTOR)


def _expected_after(svc: Services, sandbox) -> Keys:
    """Each partner's keys after the sync: what the sandbox now lists (user_id, or the invitee's e-mail)."""
    expected: dict[str, frozenset[str]] = {}
    for info in monitored_partners(sandbox):
        found = sandbox.world.members(info.bc_id)
        expected[info.bc_id] = frozenset(m.user_id or m.user_email.lower() for m in found)
    return expected


def _run_all(
    svc: Services, states: States, start: threading.Barrier, wait_for_task: Callable[[int], None]
) -> tuple[list[int], list[int], Observed]:
    task_done, seen = threading.Event(), Observed()
    with ThreadPoolExecutor(max_workers=SESSIONS + 2, thread_name_prefix="pw-test-session") as pool:
        sessions = [pool.submit(_session, n, svc, states, start, task_done, seen) for n in range(SESSIONS)]
        requests = [pool.submit(_request, svc, start) for _ in range(2)]
        task_ids = [r.result(timeout=60) for r in requests]
        try:
            wait_for_task(task_ids[0])
        finally:
            task_done.set()
        checks = [s.result(timeout=120) for s in sessions]  # re-raises any session's failure
    return task_ids, checks, seen


@pytest.mark.slow
def test_twenty_sessions_browse_and_export_while_two_syncs_race(onboarded, sandbox, overlapping_apptests):
    svc = onboarded
    before = _current_keys(svc.store)
    assert set(before) == {p.bc_id for p in monitored_partners(sandbox)}
    _change_every_partner(sandbox)
    states = States(before, _expected_after(svc, sandbox))
    assert all(states.before[b] != states.after[b] for b in before)
    tasks_before = len(jobs.list_tasks(svc.store))

    started = time.monotonic()
    task_ids, checks, seen = _run_all(
        svc, states, threading.Barrier(SESSIONS + 2), lambda task_id: svc.runner.wait(task_id, timeout=90)
    )
    elapsed = time.monotonic() - started

    assert task_ids[0] == task_ids[1], "the second request joined the running sync"
    tasks = jobs.list_tasks(svc.store)
    assert len(tasks) == tasks_before + 1, "exactly one sync task was created"
    task = tasks.set_index("id").loc[task_ids[0]]
    assert task["status"] == jobs.COMPLETED, task["error"]
    assert _current_keys(svc.store) == states.after
    assert len(checks) == SESSIONS
    assert min(checks) >= 3
    assert seen.reads >= 2 * SESSIONS
    assert seen.during_sync > 0, "no read overlapped the sync"
    assert elapsed < 60


# -- several processes on one database (issue 18). On DuckDB, one process per file, the "processes" are
# runners or replicas sharing the Store; the PostgreSQL suite runs the same claims from separate processes.


def test_two_runners_on_one_database_claim_disjoint_tasks_and_run_each_once(store):
    ran: dict[int, list[str]] = {}
    lock = threading.Lock()
    runners = [JobRunner(store, poll_s=0.01, max_workers=2) for _ in range(2)]

    def work_of(runner: JobRunner) -> Callable[[jobs.TaskContext], jobs.Counts]:
        def work(ctx: jobs.TaskContext) -> jobs.Counts:
            with lock:
                ran.setdefault(ctx.task_id, []).append(runner.name)
            time.sleep(0.02)
            return jobs.Counts(added=1)

        return work

    try:
        for runner in runners:
            runner.handle("k", work_of(runner))
        task_ids = [runners[n % 2].enqueue(jobs.Request("k", f"t{n}", "me", "Manual")).task_id for n in range(40)]
        for task_id in task_ids:
            assert runners[0].wait(task_id, timeout=60) == jobs.COMPLETED
    finally:
        for runner in runners:
            runner.shutdown(grace_s=10)
    assert sorted(ran) == sorted(task_ids)
    assert all(len(names) == 1 for names in ran.values()), "a task ran twice"
    by_runner = {runner.name: sum(names == [runner.name] for names in ran.values()) for runner in runners}
    assert all(by_runner.values()), f"one runner claimed everything: {by_runner}"
    with store.read() as cur:
        claimed = dict(cur.execute("SELECT id, claimed_by FROM tasks WHERE parent_id IS NULL").fetchall())
    assert {task_id: [claimed[task_id]] for task_id in task_ids} == ran


def test_the_daily_schedule_fires_once_with_two_schedulers(svc):
    schedule.set_policy(svc.store, ADMIN_ACTOR, enabled=True, at=dt_time(0, 0))  # due now
    processes = [replica(svc), replica(svc)]
    schedulers = [schedule.Scheduler(lambda p=p: p, interval_s=0.01) for p in processes]
    try:
        for scheduler in schedulers:
            scheduler._thread.start()
        deadline = time.monotonic() + 30
        while jobs.list_tasks(svc.store).empty and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # dozens more ticks in each scheduler
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    tasks = jobs.list_tasks(svc.store)
    assert len(tasks) == 1, tasks
    assert tasks.iloc[0]["trigger"] == jobs.TRIGGER_POLICY
    processes[0].runner.wait(int(tasks.iloc[0]["id"]), timeout=30)
    for process in processes:
        process.runner.shutdown()


def test_a_web_replica_only_queues_a_worker_runs_the_task_and_its_progress_shows_live_on_the_web(svc):
    web, worker = replica(svc, ROLE_WEB), replica(svc, ROLE_WORKER)
    core_services.install(web)  # the pages of this "process" are the web replica's
    st.cache_resource.clear()
    halfway, release = threading.Event(), threading.Event()

    def work(ctx: jobs.TaskContext) -> jobs.Counts:
        ctx.status(jobs.RUNNING)
        ctx.add_total(2)
        job = ctx.job("Partner", "Beta Media")
        job.running()
        job.complete(jobs.Counts(added=1))
        ctx.advance()
        halfway.set()
        release.wait(30)
        ctx.advance()
        return jobs.Counts(added=1)

    try:
        task_id = check_for_updates.request(web, actor=ADMIN_ACTOR)
        with pytest.raises(TimeoutError):
            web.runner.wait(task_id, timeout=1.0)  # the web replica runs no jobs
        assert check_for_updates.request(web, actor=ADMIN_ACTOR) == task_id  # a queued one is joined too

        worker.runner.handle(check_for_updates.TASK_KIND, work)
        assert halfway.wait(30)
        row = _automation_row(task_id)
        assert (row["status"], row["progress"], row["added"]) == (jobs.RUNNING, 0.5, 0)
        assert check_for_updates.request(web, actor=ADMIN_ACTOR) == task_id  # running on the worker: joined

        release.set()
        assert web.runner.wait(task_id, timeout=30) == jobs.COMPLETED
        row = _automation_row(task_id)
        assert (row["status"], row["progress"], row["added"]) == (jobs.COMPLETED, 1.0, 1)
    finally:
        release.set()
        worker.runner.shutdown(grace_s=10)
        web.runner.shutdown()
    assert len(jobs.list_tasks(svc.store)) == 1


def _automation_row(task_id: int):
    """The task as the Automation page shows it (read from the database by the web replica)."""
    at = AppTest.from_file(SHELL_PATH, default_timeout=60).run()
    at.switch_page("../pages/automation.py").run()
    assert not at.exception, at.exception
    return at.dataframe[0].value.set_index("id").loc[task_id]
