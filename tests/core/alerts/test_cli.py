"""`python -m core.cli alerts test --channel NAME` and `alerts retry-dead`: exit codes 0 / 1 / 2, the same
through the running app's API as with the database opened directly."""

from __future__ import annotations

import io

import pytest
from starlette.testclient import TestClient

from core import cli
from core.alerts import outbox, triggers
from core.cli import backend, remote
from tests.support.alerts import deliver_all, webhook


def run(argv, settings) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["-v", *argv], settings=settings, out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def _dead_letter(svc, receiver) -> None:
    receiver.answers.extend([(500, {})] * 5)
    with svc.store.write() as cur:
        outbox.record(cur, triggers.TASK_NOT_COMPLETED, task_id=None, partner_bc_id=None, subject="x")
    deliver_all(svc)
    assert outbox.counts(svc.store) == {outbox.DEAD: 1}


def test_alerts_cli_with_the_database_opened_directly(svc, receiver):
    webhook(svc, receiver)
    _dead_letter(svc, receiver)
    settings = svc.settings
    svc.close()  # the CLI opens the database itself (no app running)
    assert run(["alerts", "test", "--channel", "nope"], settings)[0] == cli.USAGE
    code, said = run(["alerts", "test", "--channel", "sec-hook"], settings)
    assert code == cli.OK
    assert "answered HTTP 200" in said
    receiver.answers.append((503, {}))
    code, said = run(["alerts", "test", "--channel", "sec-hook"], settings)
    assert code == cli.FAILED
    assert "HTTP 503" in said
    code, said = run(["alerts", "retry-dead"], settings)
    assert code == cli.OK
    assert "Queued 1" in said
    assert receiver.received[-1].json["type"] == "partnerwatch.alerts.digest"
    assert run(["alerts"], settings)[0] == cli.USAGE


@pytest.fixture
def app_client(svc, monkeypatch):
    from starlette.applications import Starlette

    from ui import api

    client = TestClient(Starlette(routes=[*api.ROUTES]), base_url="http://127.0.0.1:8599")
    monkeypatch.setattr(backend, "running_app_url", lambda settings: "http://127.0.0.1:8599")
    monkeypatch.setattr(backend, "RemoteBackend", _remote_over(client))
    return client


def _remote_over(client):
    class Remote(remote.RemoteBackend):
        def __init__(self, settings, base_url):
            self.client = client
            client.headers["Authorization"] = f"Bearer {settings.api_token}"

        def close(self):
            pass

    return Remote


def test_alerts_cli_through_the_running_app(svc, receiver, app_client):
    webhook(svc, receiver)
    _dead_letter(svc, receiver)
    assert run(["alerts", "test", "--channel", "nope"], svc.settings)[0] == cli.USAGE
    code, said = run(["alerts", "test", "--channel", "sec-hook"], svc.settings)
    assert code == cli.OK
    assert "answered HTTP 200" in said
    code, said = run(["alerts", "retry-dead"], svc.settings)
    assert code == cli.OK
    assert "Queued 1" in said
    assert outbox.counts(svc.store) == {outbox.PENDING: 1}
