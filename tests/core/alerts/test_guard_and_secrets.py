"""SSRF refusals in production mode, the allowlist, and channel secrets: encrypted, redacted, rotated."""

from __future__ import annotations

import pytest

from core.alerts import channels, dispatcher, outbox, triggers
from core.alerts.ssrf import Guard, TargetRefused
from core.security import audit, keys
from core.security.crypto import SecretBox
from tests.support.alerts import deliver_all, production, webhook
from tests.support.services import ADMIN_ACTOR


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://localhost/hook", "loopback"),
        ("https://127.0.0.1:8443/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://10.0.0.5/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("https://169.254.10.1/hook", "link-local"),
        ("http://hooks.example.com/hook", "https://"),
        ("ftp://hooks.example.com/hook", "https://"),
        ("https://user:pw@hooks.example.com/hook", "no user name"),
    ],
)
def test_production_refuses_local_and_metadata_targets(url, why):
    names = {"hooks.example.com": "93.184.216.34", "localhost": "127.0.0.1"}
    guard = Guard(sandbox=False, resolver=lambda host, port: [names.get(host, host)])
    with pytest.raises(TargetRefused, match=why):
        guard.check_url(url)


def test_localhost_by_name_is_refused_with_the_real_resolver():
    with pytest.raises(TargetRefused, match="loopback"):
        Guard(sandbox=False).check_url("https://localhost/hook")


def test_a_name_resolving_to_a_private_address_is_refused():
    guard = Guard(sandbox=False, resolver=lambda host, port: ["10.1.2.3"])
    with pytest.raises(TargetRefused, match="resolves to 10.1.2.3"):
        guard.check_url("https://innocent.example.com/hook")


def test_the_allowlist_and_sandbox_mode_permit_local_receivers():
    assert Guard(sandbox=False, allow=["127.0.0.1/32"]).check_url("https://127.0.0.1:9/x").ip == "127.0.0.1"
    assert Guard(sandbox=True).check_url("http://127.0.0.1:9100/sandbox/webhooks").port == 9100


def test_production_refuses_to_create_or_send_to_a_local_channel(svc, receiver):
    production(svc)
    with pytest.raises(TargetRefused):
        webhook(svc, receiver)
    production(svc, "127.0.0.1")
    with pytest.raises(TargetRefused, match="https"):
        webhook(svc, receiver)  # allowlisted, but still plain http
    svc.settings = svc.settings.__class__(**{**svc.settings.__dict__, "sandbox": True})
    webhook(svc, receiver)
    production(svc)  # the allowlist went away after the channel was saved: sending re-checks
    with svc.store.write() as cur:
        outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="x")
    dispatcher.run_once(svc)
    with svc.store.read() as cur:
        error = cur.execute("SELECT last_error FROM alert_deliveries").fetchone()[0]
    assert error.startswith("Refused:")
    assert receiver.received == []


def test_channel_secrets_are_encrypted_audited_without_secrets_and_rotated(svc, receiver, tmp_path):
    webhook(svc, receiver)
    with svc.store.read() as cur:
        ciphertext = bytes(cur.execute("SELECT secret_ct FROM alert_channels").fetchone()[0])
        summary = cur.execute("SELECT summary FROM alert_channels").fetchone()[0]
    assert receiver.signing_key.encode() not in ciphertext
    assert b"/hook" not in ciphertext
    assert "/hook" not in summary
    details = " ".join(audit.query(svc.store, action="alerts.*")[["target", "detail"]].astype(str).sum())
    assert receiver.signing_key not in details
    assert "/hook" not in details
    assert channels.list_all(svc.store, ADMIN_ACTOR)[0].summary == summary

    new_key = SecretBox.generate_key()
    old_keys = svc.settings.encryption_keys
    svc.box = SecretBox([new_key, *old_keys])
    report = keys.rotate_all(svc.store, svc.box, ADMIN_ACTOR)
    assert report.rotated >= 1
    svc.box = SecretBox([new_key])  # the old key retired: the channel still signs and sends
    with svc.store.write() as cur:
        outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="after rotation")
    deliver_all(svc)
    (got,) = receiver.wait_for(1)
    assert got.signature_ok is True
