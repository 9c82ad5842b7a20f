"""The customer BC integration: the customer's own Business Center, connected once through OAuth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.accounts import tokens
from core.errors import UserError
from core.security.crypto import SecretBox
from core.store import settings
from core.store.cursor import Cursor
from core.store.database import Store
from core.tiktok.shapes import JSONObject

HEALTHY = "Healthy"
RECONNECT_REQUIRED = "Reconnect required"
SYNC_FAILED = "Sync failed"
CHOOSE_BC = "Choose a Business Center"

_CANDIDATES_KEY = "integration.candidates"


class IntegrationError(UserError):
    """A user-facing reason why the customer BC cannot be connected."""


@dataclass(frozen=True)
class Integration:
    bc_id: str | None
    bc_name: str | None
    company: str | None
    user_role: str | None
    token_id: int | None
    connected_by: str | None
    connected_at: datetime | None
    last_sync_at: datetime | None
    health: str | None
    health_detail: str | None


def get(store: Store) -> Integration | None:
    with store.read() as cur:
        row = cur.execute(
            """SELECT bc_id, bc_name, company, user_role, token_id, connected_by, connected_at,
                      last_sync_at, health, health_detail FROM integration WHERE id = 1"""
        ).fetchone()
    return Integration(*row) if row else None


def access_token(store: Store, box: SecretBox) -> str | None:
    current = get(store)
    return tokens.load(store, box, current.token_id) if current else None


def admin_bcs(bcs: list[JSONObject]) -> list[JSONObject]:
    """The BCs from `bc/get/` on which the token's user is ADMIN (the ones we can monitor)."""
    return [bc for bc in bcs if bc.get("user_role") == "ADMIN" and bc.get("bc_info", {}).get("bc_id")]


def connect(store: Store, box: SecretBox, *, access_token: str, bcs: list[JSONObject], actor: str) -> Integration:
    """Store the customer token and the BC it administers; with several, the admin chooses later."""
    candidates = admin_bcs(bcs)
    if not candidates:
        raise IntegrationError(
            "The TikTok account you signed in with is not an Admin of any Business Center. "
            "Sign in with an account that has the Admin role on your company's Business Center."
        )
    now = datetime.now(UTC)
    with store.write() as cur:
        previous = cur.execute("SELECT token_id FROM integration WHERE id = 1").fetchone()
        if previous and previous[0] is not None:
            tokens.delete(cur, previous[0])
        token_id = tokens.save(cur, box, purpose="customer", bc_id=None, access_token=access_token, actor=actor)
        cur.execute("DELETE FROM integration")
        cur.execute(
            """INSERT INTO integration (id, token_id, connected_by, connected_at, health)
               VALUES (1, ?, ?, ?, ?)""",
            [token_id, actor, now, CHOOSE_BC],
        )
        _save_candidates(cur, candidates, actor)
    if len(candidates) == 1:
        return choose_bc(store, str(candidates[0]["bc_info"]["bc_id"]), actor=actor)
    current = get(store)
    assert current is not None
    return current


def _save_candidates(cur: Cursor, candidates: list[dict[str, Any]], actor: str) -> None:
    value = json.dumps([{"bc_info": c["bc_info"], "user_role": c.get("user_role")} for c in candidates])
    settings.put(cur, _CANDIDATES_KEY, value, by=actor)


def candidates(store: Store) -> list[JSONObject]:
    """BCs the connected account administers, when it has to choose one."""
    with store.read() as cur:
        value = settings.get(cur, _CANDIDATES_KEY)
    return json.loads(value) if value else []


def choose_bc(store: Store, bc_id: str, *, actor: str) -> Integration:
    chosen = next((c for c in candidates(store) if str(c["bc_info"]["bc_id"]) == bc_id), None)
    if chosen is None:
        raise IntegrationError("That Business Center is not one the connected account administers.")
    info = chosen["bc_info"]
    with store.write() as cur:
        cur.execute(
            """UPDATE integration SET bc_id = ?, bc_name = ?, company = ?, user_role = ?, health = ?,
                      health_detail = NULL WHERE id = 1""",
            [bc_id, info.get("name"), info.get("company"), chosen.get("user_role"), HEALTHY],
        )
        cur.execute("UPDATE tokens SET bc_id = ? WHERE id = (SELECT token_id FROM integration WHERE id = 1)", [bc_id])
    current = get(store)
    assert current is not None
    return current


def disconnect(store: Store) -> int | None:
    """Forget the customer token and BC; returns the deleted token id (the caller revokes it first)."""
    with store.write() as cur:
        row = cur.execute("SELECT token_id FROM integration WHERE id = 1").fetchone()
        if row and row[0] is not None:
            tokens.delete(cur, row[0])
        cur.execute("DELETE FROM integration")
        settings.delete(cur, _CANDIDATES_KEY)
    return row[0] if row else None


def set_health(store: Store, health: str, detail: str | None = None, *, synced: bool = False) -> None:
    with store.write() as cur:
        cur.execute(
            """UPDATE integration SET health = ?, health_detail = ?,
                      last_sync_at = CASE WHEN ? THEN ? ELSE last_sync_at END WHERE id = 1""",
            [health, detail, synced, datetime.now(UTC)],
        )
