"""The sandbox's own alert receiver (/sandbox/webhooks), as the README's "Try it" uses it."""

from __future__ import annotations

import httpx

from core import services as core_services
from core.alerts import channels, dispatcher, outbox, triggers
from tests.support.alerts import add_channel, deliver_all
from tests.support.services import ADMIN_ACTOR, make_services


def test_alerts_arrive_at_the_sandbox_receiver(tmp_path, sandbox):
    svc = make_services(tmp_path, sandbox)
    try:
        add_channel(svc, "sandbox-hook", channels.WEBHOOK, f"{sandbox.base_url}/sandbox/webhooks/security")
        assert dispatcher.send_test(svc, ADMIN_ACTOR, "sandbox-hook").answer.startswith("HTTP 200")
        with svc.store.write() as cur:
            outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="<b>x</b>")
        deliver_all(svc)
        shown = httpx.get(f"{sandbox.base_url}/sandbox/webhooks", params={"format": "json"}).json()
        mine = [m for m in shown if m["name"] == "security"]  # the session's sandbox also serves other tests
        assert [m["body"]["type"] for m in mine] == ["partnerwatch.alerts.digest", "partnerwatch.alerts.test"]
        assert mine[0]["headers"]["x-partnerwatch-signature"].startswith("v1=")
        page = httpx.get(f"{sandbox.base_url}/sandbox/webhooks").text
        assert "&lt;b&gt;x&lt;/b&gt;" in page
        assert "<b>x</b>" not in page
        again = httpx.post(
            f"{sandbox.base_url}/sandbox/webhooks/security",
            json={},
            headers={"Idempotency-Key": mine[0]["idempotency_key"]},
        )
        assert again.json()["duplicate"] is True
    finally:
        core_services.install(None)
        svc.close()
