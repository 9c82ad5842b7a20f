"""The mass-removal safeguard: a sync that would remove more than a share of a partner's current members
(`settings_kv` key `sync.mass_removal_threshold_pct`, default 20) is halted before anything of it is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.errors import InvalidInput
from core.security import audit
from core.security.roles import Actor, require_admin
from core.store import settings
from core.store.database import Store
from core.sync.errors import SyncHalted
from core.tasks.jobs import Counts

log = logging.getLogger(__name__)

THRESHOLD_KEY = "sync.mass_removal_threshold_pct"

DEFAULT_THRESHOLD_PCT = 20.0


@dataclass
class Plan:
    """What the mass-removal safeguard judges a partner's sync by."""

    current_before: int = 0
    counts: Counts = field(default_factory=Counts)


def threshold_pct(store: Store) -> float:
    """The mass-removal safeguard in percent of a partner's current members."""
    with store.read() as cur:
        text = settings.get(cur, THRESHOLD_KEY)
    try:
        value = float(text) if text is not None else DEFAULT_THRESHOLD_PCT
    except ValueError:
        log.warning("settings_kv %s is not a number (%r): using %g%%", THRESHOLD_KEY, text, DEFAULT_THRESHOLD_PCT)
        return DEFAULT_THRESHOLD_PCT
    return value if 0 <= value <= 100 else DEFAULT_THRESHOLD_PCT


def set_threshold_pct(store: Store, actor: Actor, pct: float) -> None:
    """Change the safeguard (admins; audited); 100 turns it off."""
    require_admin(actor, "change the mass-removal safeguard")
    if not 0 <= pct <= 100:
        raise InvalidInput("the mass-removal safeguard is a percentage between 0 and 100")
    with store.write() as cur:
        settings.put(cur, THRESHOLD_KEY, f"{pct:g}", by=actor.email)
        audit.record(
            store,
            actor=actor.email,
            action="settings.mass_removal_threshold",
            target=THRESHOLD_KEY,
            outcome="ok",
            detail=f"{pct:g}%",
        )


def check_safeguard(plan: Plan, *, partner_name: str, threshold: float) -> None:
    """Raise SyncHalted when the plan removes more than `threshold` percent of the current members."""
    if plan.current_before == 0 or plan.counts.removed == 0:
        return
    share = 100.0 * plan.counts.removed / plan.current_before
    if share > threshold:
        raise SyncHalted(
            f"Halted by the mass-removal safeguard: this sync would remove {plan.counts.removed} of "
            f"{plan.current_before} guest users of {partner_name} ({share:.0f}%, more than {threshold:g}%). "
            "Nothing was changed. If the removals are expected, raise the safeguard in Settings → Sync policy "
            "and run Check for updates again."
        )
