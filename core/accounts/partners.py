"""Partners of the customer BC: their rows, shared assets and the status shown on the Partners page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from core.accounts.connection import Connection
from core.store.cursor import Cursor
from core.store.database import Store, bulk_insert
from core.tiktok import labels
from core.tiktok.shapes import JSONObject

NOT_ELIGIBLE = "Not eligible"
PENDING_ONBOARDING = "Pending onboarding"
ONBOARDED = "Onboarded"
RECONNECT_REQUIRED = "Reconnect required"
SYNC_FAILED = "Sync failed"
HALTED_SAFEGUARD = "Halted: safeguard"  # the mass-removal safeguard held a sync back: protective, not a failure
DISCONNECTED = "Disconnected"
STATUSES = (
    NOT_ELIGIBLE,
    PENDING_ONBOARDING,
    ONBOARDED,
    RECONNECT_REQUIRED,
    SYNC_FAILED,
    HALTED_SAFEGUARD,
    DISCONNECTED,
)

# partners.connection values → status labels (the remaining case depends on shared assets)
_CONNECTION_STATUS: dict[str, str] = {  # keyed by the stored text: a Connection is a StrEnum
    Connection.CONNECTED: ONBOARDED,
    Connection.RECONNECT_REQUIRED: RECONNECT_REQUIRED,
    Connection.SYNC_FAILED: SYNC_FAILED,
    Connection.SAFEGUARD_HALTED: HALTED_SAFEGUARD,
    Connection.DISCONNECTED: DISCONNECTED,
}

SHARING = "SHARING"  # assets the customer shares with the partner
SHARED = "SHARED"  # assets the partner shares with the customer


def derive_status(connection: str, shared_with_partner: int, shared_by_partner: int) -> str:
    """The one place that turns stored facts into a status label."""
    if connection in _CONNECTION_STATUS:
        return _CONNECTION_STATUS[connection]
    if shared_with_partner + shared_by_partner == 0:
        return NOT_ELIGIBLE
    return PENDING_ONBOARDING


@dataclass(frozen=True)
class Partner:
    bc_id: str
    name: str
    assets_shared_with_partner: int
    assets_shared_by_partner: int
    connection: str
    token_id: int | None
    last_sync_at: datetime | None
    last_error: str | None

    @property
    def status(self) -> str:
        return derive_status(self.connection, self.assets_shared_with_partner, self.assets_shared_by_partner)

    @property
    def eligible(self) -> bool:
        return self.assets_shared_with_partner + self.assets_shared_by_partner > 0


_PARTNER_FIELDS = (
    "bc_id, name, assets_shared_with_partner, assets_shared_by_partner, connection, token_id, last_sync_at, last_error"
)


def _partner(row: tuple[Any, ...]) -> Partner:
    return Partner(*row)


def get(store: Store, bc_id: str) -> Partner | None:
    with store.read() as cur:
        row = cur.execute(
            f"SELECT {_PARTNER_FIELDS} FROM partners WHERE bc_id = ? AND removed_at IS NULL", [bc_id]
        ).fetchone()
    return _partner(row) if row else None


def all_current(store: Store) -> list[Partner]:
    with store.read() as cur:
        rows = cur.execute(
            f"SELECT {_PARTNER_FIELDS} FROM partners WHERE removed_at IS NULL ORDER BY lower(name), bc_id"
        ).fetchall()
    return [_partner(r) for r in rows]


def member_counts(store: Store) -> pd.DataFrame:
    """Current guest users per partner BC id and TikTok role code (`partner_bc_id`, `role`, `guest_users`): what
    the Partners table's counts and its chart are made of, in one scan of the members."""
    with store.read() as cur:
        return cur.execute(
            """SELECT partner_bc_id, user_role AS role, count(*) AS guest_users
               FROM members WHERE removed_at IS NULL GROUP BY partner_bc_id, user_role"""
        ).df()


def table(store: Store, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """The "TikTok Business Partners" table: one row per current partner, with member counts (`member_counts`,
    read now unless given)."""
    counts = member_counts(store) if counts is None else counts
    with store.read() as cur:
        df = cur.execute(
            """SELECT name, bc_id, assets_shared_with_partner, assets_shared_by_partner, connection, last_sync_at,
                      last_error
               FROM partners WHERE removed_at IS NULL ORDER BY lower(name), bc_id"""
        ).df()
    per_partner = counts.groupby("partner_bc_id")["guest_users"]
    admins = counts[counts["role"] == "ADMIN"].groupby("partner_bc_id")["guest_users"].sum()
    df.insert(5, "guest_users", df["bc_id"].map(per_partner.sum()).fillna(0).astype("int64"))
    df.insert(6, "admins", df["bc_id"].map(admins).fillna(0).astype("int64"))
    df.insert(
        4,
        "status",
        [
            derive_status(c, int(w), int(b))
            for c, w, b in zip(
                df["connection"], df["assets_shared_with_partner"], df["assets_shared_by_partner"], strict=True
            )
        ],
    )
    return df.drop(columns=["connection"])


def members_by_role(store: Store, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Current guest users per partner and TikTok role (`Admin`, as on Members), for the Partners chart; from
    `member_counts` (read now unless given)."""
    counts = member_counts(store) if counts is None else counts
    with store.read() as cur:
        names = cur.execute("SELECT bc_id, name FROM partners WHERE removed_at IS NULL").df()
    joined = counts.merge(names, left_on="partner_bc_id", right_on="bc_id")
    frame = (
        joined.groupby(["name", "role"], dropna=False, sort=False)["guest_users"]
        .sum()
        .reset_index()
        .rename(columns={"name": "partner"})
        .sort_values(["partner", "role"], na_position="last", ignore_index=True)
    )
    # pandas-stubs types assign()'s list as Sequence[Scalar], which leaves out None (label() of a missing role)
    return frame.assign(role=[labels.label("role", code) for code in frame["role"]])  # type: ignore[misc]


def apply_partner_list(cur: Cursor, listed: list[JSONObject], now: datetime) -> tuple[int, int, int]:
    """Upsert the partners TikTok lists; those it no longer lists get `removed_at`. Returns added/updated/removed."""
    frame = pd.DataFrame(
        {"bc_id": [str(p["bc_id"]) for p in listed], "name": [str(p.get("bc_name") or "") for p in listed]},
        dtype="string",
    ).drop_duplicates("bc_id")
    cur.register("listed_partners", frame)
    try:
        known = {r[0] for r in cur.execute("SELECT bc_id FROM partners WHERE removed_at IS NULL").fetchall()}
        added = len(set(frame["bc_id"]) - known)
        removed = cur.execute(
            """UPDATE partners SET removed_at = ? WHERE removed_at IS NULL
               AND bc_id NOT IN (SELECT bc_id FROM listed_partners) RETURNING bc_id""",
            [now],
        ).fetchall()
        cur.execute(
            """INSERT INTO partners (bc_id, name, first_seen, last_seen)
               SELECT bc_id, name, ?, ? FROM listed_partners
               ON CONFLICT (bc_id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen,
                                                 removed_at = NULL""",
            [now, now],
        )
    finally:
        cur.unregister("listed_partners")
    return added, len(frame) - added, len(removed)


def replace_assets(cur: Cursor, partner_bc_id: str, assets: list[JSONObject], now: datetime) -> None:
    """Replace one partner's shared assets (both directions) and refresh its counts."""
    cur.execute("DELETE FROM partner_assets WHERE partner_bc_id = ?", [partner_bc_id])
    frame = pd.DataFrame(
        {
            "partner_bc_id": partner_bc_id,
            "asset_id": [str(a["asset_id"]) for a in assets],
            "asset_type": [str(a["asset_type"]) for a in assets],
            "asset_name": [str(a.get("asset_name") or "") for a in assets],
            "share_type": [str(a["share_type"]) for a in assets],
            "owner_bc_name": [a.get("owner_bc_name") for a in assets],
            "synced_at": now,
        }
    ).drop_duplicates(["asset_id", "asset_type", "share_type"])
    if not frame.empty:
        bulk_insert(cur, "partner_assets", frame)
    counts = frame["share_type"].value_counts()
    cur.execute(
        """UPDATE partners SET assets_shared_with_partner = ?, assets_shared_by_partner = ?
           WHERE bc_id = ?""",
        [int(counts.get(SHARING, 0)), int(counts.get(SHARED, 0)), partner_bc_id],
    )


def assets(store: Store, partner_bc_id: str, share_type: str | None = None) -> pd.DataFrame:
    with store.read() as cur:
        return cur.execute(
            """SELECT asset_id, asset_type, asset_name, share_type, owner_bc_name, synced_at
               FROM partner_assets WHERE partner_bc_id = ? AND (CAST(? AS VARCHAR) IS NULL OR share_type = ?)
               ORDER BY asset_type, asset_name""",
            [partner_bc_id, share_type, share_type],
        ).df()
