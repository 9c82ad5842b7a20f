"""Alert rules: a trigger, on or off, a scope (every partner or chosen ones) and channels (none chosen: every
enabled channel). The migration seeds one rule per trigger, the security-relevant ones on. Admins edit them
(audited); analysts may read them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.alerts.triggers import TRIGGERS, label
from core.errors import InvalidInput
from core.security import audit
from core.security.roles import Actor, require_admin, require_reader
from core.store.cursor import Cursor
from core.store.database import Store


@dataclass(frozen=True)
class Rule:
    id: int
    trigger: str
    enabled: bool
    partner_bc_ids: tuple[str, ...]
    channel_ids: tuple[int, ...]

    @property
    def label(self) -> str:
        return label(self.trigger)

    def covers(self, partner_bc_id: str | None) -> bool:
        return not self.partner_bc_ids or partner_bc_id in self.partner_bc_ids


def _read(cur: Cursor) -> list[Rule]:
    rows = cur.execute(
        "SELECT id, trigger, enabled, partner_bc_ids, channel_ids FROM alert_rules ORDER BY id"
    ).fetchall()
    return [Rule(r[0], r[1], bool(r[2]), tuple(r[3] or ()), tuple(int(c) for c in r[4] or ())) for r in rows]


def list_all(store: Store, actor: Actor) -> list[Rule]:
    require_reader(actor, "see alert rules")
    return all_rules(store)


def all_rules(store: Store, cur: Cursor | None = None) -> list[Rule]:
    if cur is not None:
        return _read(cur)
    with store.read() as reader:
        return _read(reader)


def active_triggers(cur: Cursor) -> set[str]:
    """Triggers some enabled rule watches, when at least one channel is enabled (else nothing is recorded)."""
    rows = cur.execute(
        """SELECT DISTINCT trigger FROM alert_rules
           WHERE enabled AND EXISTS (SELECT 1 FROM alert_channels WHERE enabled)"""
    ).fetchall()
    return {r[0] for r in rows}


def save(
    store: Store,
    actor: Actor,
    *,
    trigger: str,
    enabled: bool,
    partner_bc_ids: Sequence[str] = (),
    channel_ids: Sequence[int] = (),
    rule_id: int | None = None,
) -> int:
    """Create (no `rule_id`) or change a rule (admins; audited); returns its id."""
    require_admin(actor, "change alert rules")
    if trigger not in TRIGGERS:
        raise InvalidInput(f"Unknown trigger {trigger!r}.")
    chosen = [int(c) for c in channel_ids]
    values = [trigger, enabled, list(partner_bc_ids), chosen, datetime.now(UTC), actor.email]
    with store.write() as cur:
        known = {r[0] for r in cur.execute("SELECT id FROM alert_channels").fetchall()}
        if set(chosen) - known:
            raise InvalidInput("A chosen channel no longer exists; reload the page.")
        if rule_id is None:
            row = cur.execute(
                """INSERT INTO alert_rules (trigger, enabled, partner_bc_ids, channel_ids, updated_at, updated_by)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                values,
            ).fetchall()
        else:
            row = cur.execute(
                """UPDATE alert_rules SET trigger = ?, enabled = ?, partner_bc_ids = ?, channel_ids = ?,
                          updated_at = ?, updated_by = ? WHERE id = ? RETURNING id""",
                [*values, rule_id],
            ).fetchall()
            if not row:
                raise InvalidInput(f"alert rule #{rule_id} does not exist")
        detail = (
            f"{'on' if enabled else 'off'}; partners: {', '.join(partner_bc_ids) or 'all'}; "
            f"channels: {', '.join(map(str, channel_ids)) or 'all'}"
        )
        audit.record(
            store, actor=actor.email, action="alerts.rule_save", target=label(trigger), outcome="ok", detail=detail
        )
    return int(row[0][0])


def channels_for(rules: Iterable[Rule], trigger: str, partner_bc_id: str | None, enabled: set[int]) -> set[int]:
    """The enabled channels that the enabled rules for `trigger` send `partner_bc_id`'s events to."""
    chosen: set[int] = set()
    for rule in rules:
        if rule.enabled and rule.trigger == trigger and rule.covers(partner_bc_id):
            chosen |= (set(rule.channel_ids) & enabled) if rule.channel_ids else enabled
    return chosen
