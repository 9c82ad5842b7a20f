"""Alert test fixtures: services on a fresh database (sandbox mode unless a test switches to production), real
receivers on 127.0.0.1, and the onboarded workspace of the member tests for the sync-level tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import services as core_services
from core.alerts import channels, dispatcher
from core.services import Services
from tests.alerts.receivers import HttpReceiver, SmtpReceiver
from tests.app.helpers import ADMIN_ACTOR, make_services
from tests.members.conftest import onboarded, onboarded_template  # noqa: F401 (fixtures)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    services = make_services(tmp_path, PW_ALERTS_BACKOFF_S="0.05", PW_ALERTS_MAX_ATTEMPTS="5")
    yield services
    core_services.install(None)
    services.close()


def production(services: Services, *allow: str) -> None:
    """Switch the services to production rules for alert targets (https, no local address unless allowed)."""
    services.settings = dataclasses.replace(services.settings, sandbox=False, alerts_allow=tuple(allow))


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    s = SmtpReceiver(tmp_path).start()
    yield s
    s.stop()


def webhook(services: Services, receiver: HttpReceiver, name: str = "sec-hook") -> int:
    created = channels.create(
        services.store,
        services.box,
        dispatcher.guard_for(services),
        ADMIN_ACTOR,
        name=name,
        kind=channels.WEBHOOK,
        settings={"url": receiver.url},
    )
    receiver.signing_key = created.shown_once["signing_key"]
    return created.channel.id


def add_channel(services: Services, name: str, kind: str, url: str) -> int:
    guard = dispatcher.guard_for(services)
    return channels.create(
        services.store, services.box, guard, ADMIN_ACTOR, name=name, kind=kind, settings={"url": url}
    ).channel.id


def deliver_all(services: Services, rounds: int = 200) -> None:
    """Run dispatcher passes until nothing is pending (or `rounds` passes of 50 ms)."""
    import time

    from core.alerts import outbox

    for _ in range(rounds):
        dispatcher.run_once(services)
        if not outbox.counts(services.store).get(outbox.PENDING):
            return
        time.sleep(0.05)
