"""Server-side, single-use OAuth `state`: one row per authorization attempt, only the state's hash kept.

`begin()` creates a pending flow and returns the plaintext state exactly once (it goes into the
authorization URL). The callback calls `consume()`, which atomically moves the flow from `pending` to
`exchanging` (one UPDATE ... WHERE status = 'pending' RETURNING under the write lock), so a state can be
redeemed once, by one request, before it expires. `finish()` records `connected` or `failed`; the page
that started the flow polls `get()` and shows `progress()`: a flow that can no longer finish (pending past
its expiry, or exchanging for longer than `EXCHANGE_LIMIT`) shows as expired, never as waiting.
Comparing `session_binding` is the caller's job (after consume, so a state presented by the wrong session
is burnt too). `set_account()` records which TikTok account answered; `last_account()` recalls it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import UserError
from core.logging_setup import redact
from core.store.database import Store

PENDING, EXCHANGING, CONNECTED, FAILED = "pending", "exchanging", "connected", "failed"
WAITING, EXPIRED = "waiting", "expired"  # what progress() shows; never stored
FINISHED_KEPT_FOR = timedelta(days=1)
EXCHANGE_LIMIT = timedelta(minutes=2)  # a callback's TikTok calls are bounded by their timeouts well within this

_MESSAGES = {
    "missing": "The sign-in response has no state parameter. Start the connection again from PartnerWatch.",
    "unknown": "This sign-in link is not one PartnerWatch issued (or it was cleaned up). "
    "Start the connection again from PartnerWatch.",
    "reused": "This sign-in link has already been used. Start the connection again from PartnerWatch.",
    "expired": "This sign-in link has expired. Start the connection again from PartnerWatch.",
}

_COLUMNS = (
    "flow_id, purpose, partner_bc_id, initiator, session_binding, status, error, created_at, expires_at, "
    "consumed_at, tiktok_account"
)


class FlowError(UserError):
    """A state that cannot be redeemed; `reason` is missing | unknown | reused | expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason = reason


@dataclass(frozen=True)
class Flow:
    flow_id: str
    purpose: str
    partner_bc_id: str | None
    initiator: str
    session_binding: str | None
    status: str
    error: str | None
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None = None
    tiktok_account: str | None = None  # display name and masked e-mail, from TikTok's user/info/


@dataclass(frozen=True)
class Progress:
    """What the page that started a flow shows: `state` is waiting | connected | failed | expired."""

    state: str
    message: str = ""


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _now(now: datetime | None) -> datetime:
    value = now or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return value


def _flow(row: tuple[Any, ...] | None) -> Flow | None:
    return Flow(*row) if row else None


def begin(
    store: Store,
    *,
    purpose: str,
    initiator: str,
    partner_bc_id: str | None = None,
    session_binding: str | None = None,
    ttl: timedelta = timedelta(minutes=10),
    now: datetime | None = None,
) -> tuple[Flow, str]:
    """Create a pending flow; returns it with the plaintext state (never stored, shown only here)."""
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    created = _now(now)
    state = secrets.token_urlsafe(32)
    with store.write() as cur:
        row = cur.execute(
            f"""INSERT INTO oauth_flows (flow_id, state_hash, purpose, partner_bc_id, initiator,
                       session_binding, created_at, expires_at, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}""",
            [
                secrets.token_hex(16),
                _hash(state),
                purpose,
                partner_bc_id,
                initiator,
                session_binding,
                created,
                created + ttl,
                PENDING,
            ],
        ).fetchone()
    flow = _flow(row)
    assert flow is not None
    return flow, state


def consume(store: Store, state: str | None, *, now: datetime | None = None) -> Flow:
    """Redeem a state: pending → exchanging, exactly once. Raises FlowError with the reason otherwise."""
    if not state:
        raise FlowError("missing")
    at = _now(now)
    with store.write() as cur:
        row = cur.execute(
            f"""UPDATE oauth_flows SET status = ?, consumed_at = ?
                WHERE state_hash = ? AND status = ? AND expires_at > ? RETURNING {_COLUMNS}""",
            [EXCHANGING, at, _hash(state), PENDING, at],
        ).fetchone()
        return _found(cur, row, state, at)


def peek(store: Store, state: str | None, *, now: datetime | None = None) -> Flow:
    """The pending, unexpired flow of `state`, without consuming it; raises FlowError otherwise."""
    if not state:
        raise FlowError("missing")
    at = _now(now)
    with store.read() as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM oauth_flows WHERE state_hash = ? AND status = ? AND expires_at > ?",
            [_hash(state), PENDING, at],
        ).fetchone()
        return _found(cur, row, state, at)


def _found(cur: Any, row: tuple[Any, ...] | None, state: str, at: datetime) -> Flow:
    """The flow of a row that matched a pending, unexpired state, or FlowError saying why none did."""
    flow = _flow(row)
    if flow is None:
        raise FlowError(_refusal(cur, state, at))
    return flow


def _refusal(cur: Any, state: str, at: datetime) -> str:
    row = cur.execute("SELECT status, expires_at FROM oauth_flows WHERE state_hash = ?", [_hash(state)]).fetchone()
    if row is None:
        return "unknown"
    status, expires_at = row
    return "reused" if status != PENDING else "expired" if expires_at <= at else "unknown"


def finish(store: Store, flow_id: str, *, ok: bool, error: str | None = None) -> None:
    """Record the outcome (connected | failed); a finished flow keeps its first outcome."""
    detail = None if ok else redact(error or "The connection failed.")
    with store.write() as cur:
        row = cur.execute(
            """UPDATE oauth_flows SET status = ?, error = ?, finished_at = ?
               WHERE flow_id = ? AND status IN (?, ?) RETURNING flow_id""",
            [CONNECTED if ok else FAILED, detail, datetime.now(UTC), flow_id, PENDING, EXCHANGING],
        ).fetchone()
        if row is None and cur.execute("SELECT 1 FROM oauth_flows WHERE flow_id = ?", [flow_id]).fetchone() is None:
            raise FlowError("unknown")


def progress(flow: Flow | None, *, now: datetime | None = None) -> Progress:
    """The flow as the user should see it; an attempt that can no longer finish is expired, not waiting."""
    at = _now(now)
    if flow is None:
        return Progress(FAILED, "This connection attempt is no longer known to PartnerWatch. Start again.")
    if flow.status == CONNECTED:
        return Progress(CONNECTED)
    if flow.status == FAILED:
        return Progress(FAILED, flow.error or "The connection failed. Start again.")
    if flow.status == PENDING and flow.expires_at <= at:
        return Progress(
            EXPIRED, "This authorization expired: it was not finished on TikTok within 10 minutes. Start again."
        )
    if flow.status == EXCHANGING and (flow.consumed_at or flow.expires_at) + EXCHANGE_LIMIT <= at:
        return Progress(
            EXPIRED,
            "TikTok answered, but PartnerWatch did not finish this connection (it may have restarted). Start again.",
        )
    return Progress(WAITING)


def set_account(store: Store, flow_id: str, account: str) -> None:
    """Record the TikTok account (display name, masked e-mail) that answered this flow's authorization."""
    with store.write() as cur:
        cur.execute("UPDATE oauth_flows SET tiktok_account = ? WHERE flow_id = ?", [account, flow_id])


def last_account(store: Store, initiator: str) -> tuple[str, datetime] | None:
    """The TikTok account that last answered an authorization `initiator` started, and when."""
    with store.read() as cur:
        row = cur.execute(
            """SELECT tiktok_account, consumed_at FROM oauth_flows
               WHERE initiator = ? AND tiktok_account IS NOT NULL ORDER BY consumed_at DESC LIMIT 1""",
            [initiator],
        ).fetchone()
    return (row[0], row[1]) if row else None


def get(store: Store, flow_id: str) -> Flow | None:
    with store.read() as cur:
        return _flow(cur.execute(f"SELECT {_COLUMNS} FROM oauth_flows WHERE flow_id = ?", [flow_id]).fetchone())


def purge_expired(store: Store, *, now: datetime | None = None) -> int:
    """Delete flows a day after their expiry (the scheduler's hourly chore); until then the wizard and Settings
    can still say what became of an attempt, an expired one included."""
    at = _now(now)
    with store.write() as cur:
        row = cur.execute("DELETE FROM oauth_flows WHERE expires_at <= ?", [at - FINISHED_KEPT_FOR]).fetchone()
    return int(row[0]) if row else 0
