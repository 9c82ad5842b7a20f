"""Alert test helpers: channels pointing at local receivers, production mode, and delivering what is queued."""

from __future__ import annotations

import dataclasses

from core.alerts import channels, dispatcher
from core.services import Services
from tests.support.receivers import HttpReceiver
from tests.support.services import ADMIN_ACTOR


def production(services: Services, *allow: str) -> None:
    """Switch the services to production rules for alert targets (https, no local address unless allowed)."""
    services.settings = dataclasses.replace(services.settings, sandbox=False, alerts_allow=tuple(allow))


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
