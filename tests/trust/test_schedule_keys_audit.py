"""Scheduled sync (once per day, once per process), key rotation (all or nothing, idempotent) and the
audit log's CSV download."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, date, datetime, time

import pytest

from core import cli
from core.accounts import tokens
from core.connect import vault
from core.security import audit, keys
from core.security.audit_export import AuditFilter, csv_bytes
from core.security.crypto import SecretBox
from core.security.roles import ADMIN, Actor
from core.services import install
from core.sync import schedule
from core.tasks import jobs
from tests.support.services import ADMIN_ACTOR, make_services

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_daily_sync_runs_once_a_day_with_the_workspace_policy_trigger(svc):
    assert schedule.tick(svc, NOON) is None  # off by default
    schedule.set_policy(svc.store, ADMIN_ACTOR, enabled=True, at=time(13, 0))
    assert schedule.tick(svc, NOON) is None  # not yet
    later = NOON.replace(hour=13, minute=5)
    task_id = schedule.tick(svc, later)
    assert task_id is not None
    svc.runner.wait(task_id, timeout=30)
    task = jobs.list_tasks(svc.store).iloc[0]
    assert (task["trigger"], task["actor"]) == (jobs.TRIGGER_POLICY, "Workspace policy")
    assert schedule.tick(svc, later.replace(hour=23)) is None  # the day is claimed
    assert schedule.policy(svc.store).last_run == date(2026, 11, 27)
    assert schedule.policy(svc.store).next_run(later) == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    assert "daily at 13:00 UTC" in schedule.policy(svc.store).describe(later)
    assert "Workspace policy" in set(audit.query(svc.store, action="sync.request")["actor"])


def test_racing_ticks_start_one_sync(svc):
    schedule.set_policy(svc.store, ADMIN_ACTOR, enabled=True, at=time(6, 0))
    results: list[int | None] = []
    threads = [threading.Thread(target=lambda: results.append(schedule.tick(svc, NOON))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = [r for r in results if r is not None]
    assert len(started) == 1
    svc.runner.wait(started[0], timeout=30)
    assert len(jobs.list_tasks(svc.store)) == 1


def test_scheduler_thread_starts_once_per_process(svc):
    schedule.set_policy(svc.store, ADMIN_ACTOR, enabled=True, at=time(0, 0))
    first = schedule.start(lambda: svc, interval_s=0.05)
    try:
        assert schedule.start(lambda: svc, interval_s=0.05) is first
        deadline = datetime.now(UTC).timestamp() + 10
        while jobs.list_tasks(svc.store).empty and datetime.now(UTC).timestamp() < deadline:
            threading.Event().wait(0.05)
        task_id = int(jobs.list_tasks(svc.store).iloc[0]["id"])
        svc.runner.wait(task_id, timeout=30)
        threading.Event().wait(0.3)  # several more ticks
    finally:
        schedule.stop()
    assert not first.alive
    assert len(jobs.list_tasks(svc.store)) == 1
    assert jobs.list_tasks(svc.store).iloc[0]["trigger"] == jobs.TRIGGER_POLICY


def _secret_rows(store) -> dict[str, bytes]:
    with store.read() as cur:
        found = {f"token {i}": bytes(c) for i, c in cur.execute("SELECT id, ciphertext FROM tokens").fetchall()}
        for row in cur.execute("SELECT id, email_ct, phone_ct, password_ct FROM vault_items").fetchall():
            found.update({f"vault {row[0]} {n}": bytes(v) for n, v in enumerate(row[1:])})
    return found


def test_rotate_key_reencrypts_everything_is_idempotent_and_all_or_nothing(tmp_path):
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    svc = make_services(tmp_path, None, PW_ENCRYPTION_KEYS=old)
    with svc.store.write() as cur:
        tokens.save(cur, svc.box, purpose="customer", bc_id=None, access_token="act.customer-token-0001", actor="t")
        tokens.save(cur, svc.box, purpose="partner", bc_id="1", access_token="act.partner-token-0002", actor="t")
    vault.add(
        svc.store,
        svc.box,
        ADMIN_ACTOR,
        partner_bc_id=None,
        email="m@agency.example",
        phone="+1 555",
        password="Vault-Password-0003",
    )
    svc.close()

    svc = make_services(tmp_path, None, PW_ENCRYPTION_KEYS=f"{new},{old}")
    out = io.StringIO()
    svc.close()
    assert cli.main(["-v", "rotate-key"], settings=svc.settings, out=out) == cli.OK  # quiet without -v
    assert "Re-encrypted 5 secret value(s)" in out.getvalue()

    svc = make_services(tmp_path, None, PW_ENCRYPTION_KEYS=new)  # the old key is gone now
    assert tokens.load(svc.store, svc.box, 2) == "act.partner-token-0002"
    assert vault.reveal(svc.store, svc.box, ADMIN_ACTOR, 1).password == "Vault-Password-0003"
    report = keys.rotate_all(svc.store, svc.box, Actor("admin@partnerwatch.local", ADMIN))
    assert (report.rotated, report.current) == (0, 5)  # idempotent

    stranger = SecretBox([SecretBox.generate_key()])
    with svc.store.write() as cur:
        tokens.save(cur, stranger, purpose="partner", bc_id="2", access_token="act.foreign-0004", actor="t")
    svc.close()
    svc = make_services(tmp_path, None, PW_ENCRYPTION_KEYS=f"{SecretBox.generate_key()},{new}")
    before = _secret_rows(svc.store)
    with pytest.raises(keys.RotationError, match=r"Nothing was changed\. tokens.ciphertext of row 3"):
        keys.rotate_all(svc.store, svc.box, ADMIN_ACTOR)
    assert _secret_rows(svc.store) == before  # the rows before the bad one were rolled back too
    assert audit.query(svc.store, action="settings.rotate_key").iloc[0]["outcome"] == "failed"
    install(None)
    svc.close()


def test_audit_csv_is_filtered_formula_safe_and_audited(svc):
    audit.record(
        svc.store,
        actor="=HYPERLINK(evil)",
        action="connect.partner",
        target="+cmd|' /C calc'!A0",
        outcome="ok",
        detail="@SUM(1)",
    )
    audit.record(svc.store, actor="ann@acme.example", action="sync.request", target="All partners", outcome="queued")
    body = csv_bytes(svc.store, ADMIN_ACTOR, AuditFilter(action="connect.partner")).decode("utf-8")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0][:4] == ["id", "at (UTC)", "actor", "action"]
    assert len(rows) == 2
    assert rows[1][2:7] == ["'=HYPERLINK(evil)", "connect.partner", "'+cmd|' /C calc'!A0", "ok", "'@SUM(1)"]
    assert all(line.startswith('"') for line in body.splitlines())
    assert audit.query(svc.store, action="export.audit_log").iloc[0]["detail"] == "1 rows"
