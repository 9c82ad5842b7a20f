"""The sync-time events an alert rule can watch, with the labels people read and their defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trigger:
    key: str
    label: str
    explanation: str
    member_level: bool  # one event per guest user (else per partner or task)


NEW_GUEST = "new_guest"
PRIVILEGED_ROLE = "privileged_role"
PERSONAL_DOMAIN = "personal_domain"
GUEST_REMOVED = "guest_removed"
NEW_PARTNER = "new_partner"
PARTNER_UNHEALTHY = "partner_unhealthy"
SAFEGUARD_HALTED = "safeguard_halted"
TASK_NOT_COMPLETED = "task_not_completed"

TRIGGERS: dict[str, Trigger] = {
    t.key: t
    for t in (
        Trigger(NEW_GUEST, "New guest user", "A guest user appeared at an onboarded partner.", True),
        Trigger(
            PRIVILEGED_ROLE,
            "Guest user became Admin or gained a finance role",
            "A guest user is new as Admin or with a finance role, became Admin, or gained a finance role.",
            True,
        ),
        Trigger(
            PERSONAL_DOMAIN,
            "New guest user with a personal e-mail domain",
            "A new guest user's e-mail is at a personal mailbox provider (the list in Settings → Risk flags).",
            True,
        ),
        Trigger(GUEST_REMOVED, "Guest users removed", "A guest user is no longer listed by the partner.", True),
        Trigger(NEW_PARTNER, "New partner", "A new partner appeared in your Business Center's partner list.", False),
        Trigger(
            PARTNER_UNHEALTHY,
            "Partner needs attention",
            "A partner became Reconnect required or Sync failed.",
            False,
        ),
        Trigger(
            SAFEGUARD_HALTED,
            "Sync halted by the safeguard",
            "The mass-removal safeguard held a partner's sync back; nothing of it was applied.",
            False,
        ),
        Trigger(
            TASK_NOT_COMPLETED,
            "Check for updates not completed",
            "A Check for updates task ended Not completed.",
            False,
        ),
    )
}

MEMBER_TRIGGERS = tuple(key for key, t in TRIGGERS.items() if t.member_level)


def label(key: str) -> str:
    trigger = TRIGGERS.get(key)
    return trigger.label if trigger else key
