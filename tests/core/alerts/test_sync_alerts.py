"""Alerts from real syncs: events written in the sync's own transaction, one digest per sync per channel
(also for 10,000 member changes), and partner-level triggers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from benchmarks import datagen
from core.alerts import channels, digest, dispatcher, outbox, rules, triggers
from core.sync import group_commit, member_write
from tests.support.alerts import add_channel, deliver_all, webhook
from tests.support.onboarding import run_sync
from tests.support.receivers import HttpReceiver
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ADMIN_ACTOR


def events(svc) -> list[tuple]:
    with svc.store.read() as cur:
        return cur.execute("SELECT trigger, partner_bc_id, subject, detail FROM alert_events ORDER BY id").fetchall()


def test_a_sync_that_adds_an_admin_with_a_personal_domain_sends_one_digest(onboarded, sandbox, receiver):
    svc = onboarded
    webhook(svc, receiver)
    rule = next(r for r in rules.all_rules(svc.store) if r.trigger == triggers.NEW_GUEST)
    rules.save(svc.store, ADMIN_ACTOR, trigger=rule.trigger, enabled=True, rule_id=rule.id)
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(
        sandbox, "members/add", bc_id=bc_id, user_email="eve@gmail.com", user_name="<!channel> *Eve*", user_role="ADMIN"
    )
    task_id, status = run_sync(svc)
    assert status == "Completed"
    assert {e[0] for e in events(svc)} == {triggers.NEW_GUEST, triggers.PRIVILEGED_ROLE, triggers.PERSONAL_DOMAIN}
    deliver_all(svc)
    (got,) = receiver.wait_for(1)
    body = got.json
    assert got.signature_ok
    assert body["task_id"] == task_id
    assert body["counts"] == {triggers.PRIVILEGED_ROLE: 1, triggers.PERSONAL_DOMAIN: 1, triggers.NEW_GUEST: 1}
    assert body["items"][0]["subject"] == "<!channel> *Eve* <eve@gmail.com>"
    assert body["link"].endswith(f"/members?task={task_id}")


def test_events_share_the_members_transaction(onboarded, sandbox, receiver, monkeypatch):
    """A member write that fails after the events were inserted leaves neither members nor events."""
    svc = onboarded
    webhook(svc, receiver)
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="boss@agency.example", user_role="ADMIN")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(member_write, "_record_syncs", broken)
    assert run_sync(svc)[1] == "Not completed"
    with svc.store.read() as cur:
        assert cur.execute("SELECT count(*) FROM members WHERE user_email = 'boss@agency.example'").fetchone()[0] == 0
    assert [e[0] for e in events(svc)] == [triggers.TASK_NOT_COMPLETED]  # only the task's own alert
    monkeypatch.undo()
    assert run_sync(svc)[1] == "Completed"
    assert [e[0] for e in events(svc)][1:] == [triggers.PRIVILEGED_ROLE]


def test_safeguard_halt_and_reconnect_required_raise_partner_alerts(onboarded, sandbox, receiver):
    svc = onboarded
    webhook(svc, receiver)
    first, second = monitored_partners(sandbox)[:2]
    for member in [m for m in sandbox.world.members(first.bc_id) if m.user_email != first.monitor_email]:
        control(sandbox, "members/remove", bc_id=first.bc_id, user_email=member.user_email)
    control(sandbox, "tokens/revoke", user_email=second.monitor_email)
    run_sync(svc)
    found = {(e[0], e[1]) for e in events(svc)}
    assert (triggers.SAFEGUARD_HALTED, first.bc_id) in found
    assert (triggers.PARTNER_UNHEALTHY, second.bc_id) in found
    run_sync(svc)
    unhealthy = [e for e in events(svc) if e[0] == triggers.PARTNER_UNHEALTHY]
    assert len(unhealthy) == 1  # "becomes": not again while it stays Reconnect required


def test_ten_thousand_member_changes_make_one_digest_per_channel(svc, receiver):
    slack_receiver = HttpReceiver().start()
    try:
        webhook(svc, receiver)
        add_channel(svc, "slack", channels.SLACK, slack_receiver.url)
        rule = next(r for r in rules.all_rules(svc.store) if r.trigger == triggers.NEW_GUEST)
        rules.save(svc.store, ADMIN_ACTOR, trigger=rule.trigger, enabled=True, rule_id=rule.id)
        bc_id = "7000000000000000001"
        group_commit.write_snapshot(svc.store, datagen.plain_snapshot(bc_id, 1), "Agency", 101)  # baseline
        assert events(svc) == []
        group_commit.write_snapshot(svc.store, datagen.plain_snapshot(bc_id, 10_001), "Agency", 102)
        assert len(events(svc)) == 10_000
        assert digest.make_deliveries(svc.store, public_url="http://pw", now=datetime.now(UTC)) == 2
        deliver_all(svc)
        (hook,) = receiver.wait_for(1)
        (slack,) = slack_receiver.wait_for(1)
        assert hook.json["counts"] == {triggers.NEW_GUEST: 10_000}
        assert len(hook.json["items"]) == digest.FIRST_ITEMS
        assert hook.json["omitted"] == 10_000 - digest.FIRST_ITEMS
        assert "10000 alerts" in slack.json["text"]
        assert len(slack.body) < 10_000
        assert outbox.counts(svc.store) == {outbox.DELIVERED: 2}
    finally:
        slack_receiver.stop()


@pytest.mark.parametrize("scope_matches", [True, False])
def test_rule_scope_and_channels_choose_the_receivers(svc, receiver, scope_matches):
    other = HttpReceiver().start()
    try:
        chosen = webhook(svc, receiver)
        webhook(svc, other, name="other-hook")
        rule = next(r for r in rules.all_rules(svc.store) if r.trigger == triggers.NEW_PARTNER)
        scope = ["P1"] if scope_matches else ["P2"]
        rules.save(
            svc.store,
            ADMIN_ACTOR,
            trigger=rule.trigger,
            enabled=True,
            partner_bc_ids=scope,
            channel_ids=[chosen],
            rule_id=rule.id,
        )
        with svc.store.write() as cur:
            outbox.record(cur, triggers.NEW_PARTNER, task_id=None, partner_bc_id="P1", subject="New agency")
        deliver_all(svc)
        dispatcher.run_once(svc)
        assert len(receiver.received) == (1 if scope_matches else 0)
        assert other.received == []
    finally:
        other.stop()
