"""The outbox and dispatcher against real receivers on 127.0.0.1: signature, ordering after an outage,
429 + Retry-After, dead letters with retry, Slack/Teams inertness, e-mail over STARTTLS with login."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from core.alerts import channels, dispatcher, outbox, triggers
from core.security import audit
from core.security.roles import NotAllowed
from tests.support.alerts import add_channel, deliver_all, webhook
from tests.support.receivers import HttpReceiver
from tests.support.services import ADMIN_ACTOR, ANALYST_ACTOR


def event(svc, subject: str = "Agency One", trigger: str = triggers.TASK_NOT_COMPLETED, task_id=None) -> None:
    with svc.store.write() as cur:
        assert outbox.record(cur, trigger, task_id=task_id, partner_bc_id=None, subject=subject, detail="detail")


def statuses(svc) -> list[tuple]:
    with svc.store.read() as cur:
        return cur.execute("SELECT id, status, attempts, last_error FROM alert_deliveries ORDER BY id").fetchall()


def test_signed_webhook_digest_arrives_with_its_idempotency_key(svc, receiver):
    webhook(svc, receiver)
    event(svc)
    deliver_all(svc)
    (got,) = receiver.wait_for(1)
    assert got.signature_ok is True
    digest = got.json
    assert digest["type"] == "partnerwatch.alerts.digest"
    assert digest["counts"] == {triggers.TASK_NOT_COMPLETED: 1}
    assert got.headers["idempotency-key"] == digest["delivery"]
    assert statuses(svc)[0][1:3] == (outbox.DELIVERED, 1)


def test_nothing_is_recorded_without_an_enabled_channel(svc):
    with svc.store.write() as cur:
        assert not outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="x")
    with svc.store.read() as cur:
        assert cur.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 0


def test_a_receiver_down_then_back_gets_each_digest_once_in_order(svc):
    down = HttpReceiver()  # its port is not listening yet
    webhook(svc, down)
    for n in range(3):
        event(svc, subject=f"event {n}")
        dispatcher.run_once(svc)  # digests it; the send fails (connection refused) or waits for the first
    rows = statuses(svc)
    assert [r[1] for r in rows] == [outbox.PENDING] * 3
    assert rows[0][2] >= 1
    assert "No answer" in rows[0][3]
    assert rows[1][2] == rows[2][2] == 0  # later digests wait for the first: order per channel
    down.start()
    try:
        deliver_all(svc)
        got = down.wait_for(3)
        assert [r.json["items"][0]["subject"] for r in got] == ["event 0", "event 1", "event 2"]
        assert len({r.headers["idempotency-key"] for r in got}) == 3
        assert all(r.signature_ok for r in got)
    finally:
        down.stop()


def test_429_retry_after_is_honoured(svc, receiver):
    receiver.answers.append((429, {"Retry-After": "1"}))
    webhook(svc, receiver)
    event(svc)
    dispatcher.run_once(svc)
    (row,) = statuses(svc)
    assert row[1:3] == (outbox.PENDING, 1)
    assert row[3].startswith("HTTP 429")
    with svc.store.read() as cur:
        (due,) = cur.execute("SELECT next_attempt_at FROM alert_deliveries WHERE id = ?", [row[0]]).fetchone()
    assert due >= datetime.now(UTC).replace(microsecond=0)
    assert dispatcher.run_once(svc) == 0  # not due before the second Retry-After asked for
    time.sleep(1.05)
    deliver_all(svc)
    assert len(receiver.wait_for(1)) == 1
    assert receiver.attempts[1] - receiver.attempts[0] >= 1.0


def test_dead_letter_after_max_attempts_then_retry_and_discard_are_audited(svc, receiver):
    receiver.answers.extend([(500, {})] * 5)
    webhook(svc, receiver)
    event(svc)
    deliver_all(svc)
    (row,) = statuses(svc)
    assert row[1:3] == (outbox.DEAD, 5)
    assert row[3] == "HTTP 500"
    with pytest.raises(NotAllowed):
        outbox.retry(svc.store, ANALYST_ACTOR)
    assert outbox.retry(svc.store, ADMIN_ACTOR) == 1
    deliver_all(svc)
    assert statuses(svc)[0][1] == outbox.DELIVERED
    assert len(receiver.wait_for(1)) == 1
    receiver.answers.extend([(500, {})] * 5)
    event(svc)
    deliver_all(svc)
    dead = statuses(svc)[1][0]
    assert outbox.discard(svc.store, ADMIN_ACTOR, [dead]) == 1
    assert statuses(svc)[1][1] == outbox.DISCARDED
    actions = set(audit.query(svc.store, action="alerts.*")["action"])
    assert {"alerts.delivery_retry", "alerts.delivery_discard", "alerts.channel_add"} <= actions


HOSTILE = "<!channel> *Bold* _it_ ~x~ `code` <https://evil.example|click> [link](https://evil.example) @here &amp;"


def _strings(value) -> list[tuple[str, str]]:
    """(containing object's type, text) for every string in a Slack payload."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and k == "text":
                found.append((str(value.get("type")), v))
            else:
                found.extend(_strings(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(_strings(v))
    return found


def test_partner_controlled_text_arrives_inert_in_slack_and_teams(svc, receiver):
    add_channel(svc, "slack", channels.SLACK, receiver.url + "/slack")
    add_channel(svc, "teams", channels.TEAMS, receiver.url + "/teams")
    event(svc, subject=HOSTILE)
    deliver_all(svc)
    by_path = {r.path: r.json for r in receiver.wait_for(2)}
    slack = by_path["/hook/slack"]
    texts = _strings(slack)
    hostile_blocks = [t for kind, t in texts if "evil" in t]
    assert hostile_blocks
    assert all(kind == "plain_text" for kind, t in texts if "evil" in t)
    assert all("<!channel>" not in t and "<https://evil" not in t for _, t in texts)
    assert "&lt;!channel&gt;" in hostile_blocks[0]
    assert "evil" not in slack["text"]
    teams = by_path["/hook/teams"]["text"]
    assert "<!channel>" not in teams
    assert "&lt;\\!channel&gt;" in teams
    assert "\\*Bold\\*" in teams
    assert "\\[link\\]\\(https://evil\\.example\\)" in teams


def test_email_goes_through_starttls_and_login(svc, smtp):
    guard = dispatcher.guard_for(svc)
    channels.create(
        svc.store,
        svc.box,
        guard,
        ADMIN_ACTOR,
        name="sec-mail",
        kind=channels.EMAIL,
        settings={
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "alerts",
            "password": "smtp-pass",
            "sender": "partnerwatch@acme.example",
            "recipients": "security@acme.example, soc@acme.example",
            "verify_tls": False,  # the test server's certificate is self-signed
        },
    )
    event(svc, subject="Mallory <!channel>")
    deliver_all(svc)
    messages = smtp.wait_for(2)
    assert len(messages) == 2  # one per recipient
    text = messages[0].decode()
    assert smtp.inbox.logins
    assert set(smtp.inbox.logins) == {"alerts"}
    assert "Subject: PartnerWatch: 1 alert" in text
    assert "Mallory <!channel>" in text
    with svc.store.read() as cur:
        key = cur.execute("SELECT idempotency_key FROM alert_deliveries").fetchone()[0]
    assert f"X-PartnerWatch-Delivery: {key}" in text


def test_send_test_reports_the_receivers_answer(svc, receiver):
    webhook(svc, receiver)
    result = dispatcher.send_test(svc, ADMIN_ACTOR, "sec-hook")
    assert result.ok
    assert result.answer == "HTTP 200: ok"
    receiver.answers.append((503, {}))
    assert dispatcher.send_test(svc, ADMIN_ACTOR, "sec-hook").answer == "HTTP 503"
    with pytest.raises(NotAllowed):
        dispatcher.send_test(svc, ANALYST_ACTOR, "sec-hook")
    assert json.loads(receiver.received[0].body)["type"] == "partnerwatch.alerts.test"
