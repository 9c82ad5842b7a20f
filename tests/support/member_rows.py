"""Random partner members for the member-diff tests: a member, a round of changes (role, finance and status
changes, removals, returns, new members, invitees re-keyed both ways) and the snapshot a sync would fetch."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from core.sync.member_tables import Snapshot

BC = "p1"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
FIELDS = ("user_id", "user_name", "user_email", "user_role", "finance_role", "relation_status")


def random_member(i: int, rng: random.Random, *, invitee: bool) -> tuple[str, dict[str, str | None]]:
    email = f"u{i}@a.example"
    row = {
        "user_id": None if invitee else str(1000 + i),
        "user_name": None if invitee else f"U{i}",
        "user_email": email,
        "user_role": rng.choice(("ADMIN", "STANDARD")),
        "finance_role": rng.choice((None, "MANAGER", "ANALYST")),
        "relation_status": "PENDING" if invitee else "BOUND",
    }
    return (email if invitee else str(1000 + i)), row


def mutate_members(members: dict[str, dict], gone: dict[str, dict], rng: random.Random, next_id: list[int]) -> None:
    for key in list(members):
        roll = rng.random()
        row = members[key]
        if roll < 0.06:
            gone[key] = members.pop(key)
        elif roll < 0.12:
            row["user_role"] = "ADMIN" if row["user_role"] == "STANDARD" else "STANDARD"
        elif roll < 0.16:
            row["finance_role"] = rng.choice((None, "MANAGER", "ANALYST"))
        elif roll < 0.20:
            row["relation_status"] = rng.choice(("BOUND", "UNBOUND", "REJECTED"))
        elif roll < 0.26 and row["user_id"] is None:  # the invitee joins: e-mail key → user_id key
            i = int(row["user_email"][1:].split("@")[0])
            members[str(1000 + i)] = members.pop(key) | {"user_id": str(1000 + i), "relation_status": "BOUND"}
        elif roll < 0.29 and row["user_id"] is not None:  # back to an invitation keyed by e-mail
            members[row["user_email"]] = members.pop(key) | {"user_id": None, "relation_status": "PENDING"}
        elif roll < 0.31:
            row["user_name"] = rng.choice((None, f"Renamed {rng.randrange(9)}", "ÉLODIE Ünal"))
        elif roll < 0.33 and row["user_id"] is not None:  # a joined member's e-mail changes; the key does not
            row["user_email"] = f"U{rng.randrange(99)}@Mail.Example"
    for key in [k for k in gone if rng.random() < 0.3 and k not in members]:
        members[key] = gone.pop(key)
    for _ in range(rng.randrange(4)):
        key, row = random_member(next_id[0], rng, invitee=rng.random() < 0.4)
        next_id[0] += 1
        members[key] = row


def random_snapshot(members: dict[str, dict], rng: random.Random, bc: str = BC) -> Snapshot:
    roles = [
        {
            "member_key": key,
            "asset_id": f"a{k}",
            "asset_type": "ADVERTISER",
            "asset_name": rng.choice((None, f"Ads {k}")),
            "asset_role": rng.choice(("ADMIN", "OPERATOR", None)),
        }
        for key in members
        if rng.random() < 0.4
        for k in range(rng.randrange(1, 3))
    ]
    return Snapshot(bc, {key: {f: row[f] for f in FIELDS} for key, row in members.items()}, roles)
