"""AppTest of the Alerts page and Settings → Alerts: admins add a channel (its signing key shown once), send a
test, retry a dead letter; analysts see rules, channels and deliveries without any control."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.alerts import channels, outbox, triggers
from tests.support.alerts import deliver_all, webhook
from tests.support.services import ADMIN_ACTOR

SHELL = "../../../ui/shell.py"  # relative to this file, as AppTest wants


def _app() -> AppTest:
    return AppTest.from_file(SHELL, default_timeout=30)


def test_admin_adds_a_channel_sends_a_test_and_retries_a_dead_letter(svc, receiver):
    at = _app().run()
    at.switch_page("../pages/settings.py").run()
    form_inputs = [t for t in at.text_input if t.label in ("Name", "Webhook URL")]
    form_inputs[0].input("sec-hook")
    form_inputs[1].input(receiver.url)
    next(b for b in at.button if b.label == "Add channel").click().run()
    assert not at.exception
    added = [s.value for s in at.success if "Added the channel sec-hook" in s.value]
    assert added
    assert "Signing key** (shown once" in added[0]
    at.button(key=next(b.key for b in at.button if b.label == "Send test")).click().run()
    assert any("answered HTTP 200" in s.value for s in at.success)

    receiver.answers.extend([(500, {})] * 5)
    with svc.store.write() as cur:
        outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="x")
    deliver_all(svc)
    at.switch_page("../pages/alerts.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["status"]) == ["Dead letter"]
    assert table["last_error"].iloc[0] == "HTTP 500"
    at.multiselect(key="dead_letters").set_value([int(table["id"].iloc[0])]).run()
    at.button(key="retry_dead").click().run()
    deliver_all(svc)
    assert outbox.counts(svc.store) == {outbox.DELIVERED: 1}


def test_analyst_views_alerts_without_controls(svc, receiver):
    webhook(svc, receiver)
    receiver.answers.extend([(500, {})] * 5)
    with svc.store.write() as cur:
        outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="x")
    deliver_all(svc)
    at = _app().run()
    at.sidebar.selectbox(key="sandbox_user").set_value("analyst@partnerwatch.local").run()
    at.switch_page("../pages/alerts.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["status"]) == ["Dead letter"]
    assert not [b for b in at.button if b.label in ("Retry", "Send test", "Add channel", "Remove", "Turn off")]
    captions = " ".join(c.value for c in at.caption)
    assert "Only admins can retry or discard dead letters" in captions
    assert "Only admins can change alert rules" in captions


def test_an_unexpected_failure_shows_an_internal_error_with_a_reference(svc, receiver, monkeypatch):
    webhook(svc, receiver)
    receiver.answers.extend([(500, {})] * 5)
    with svc.store.write() as cur:
        outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="x")
    deliver_all(svc)

    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("connection reset by peer at 10.0.0.7")

    monkeypatch.setattr(outbox, "retry", broken)
    at = _app().run()
    at.switch_page("../pages/alerts.py").run()
    at.multiselect(key="dead_letters").set_value([int(at.dataframe[0].value["id"].iloc[0])]).run()
    at.button(key="retry_dead").click().run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "internal error (reference PW-" in shown
    assert "10.0.0.7" not in shown


def test_admin_turns_a_channel_off_and_on_again(svc, receiver):
    webhook(svc, receiver)
    at = _app().run()
    at.switch_page("../pages/alerts.py").run()
    (switch,) = [b for b in at.button if b.label == "Turn off"]
    switch.click().run()
    assert not at.exception
    assert any("Turned the channel sec-hook off" in s.value for s in at.success)
    assert [c.enabled for c in channels.list_all(svc.store, ADMIN_ACTOR)] == [False]
    assert any("sec-hook** (off)" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Turn on").click().run()
    assert [c.enabled for c in channels.list_all(svc.store, ADMIN_ACTOR)] == [True]
