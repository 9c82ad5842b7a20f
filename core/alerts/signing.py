"""The generic webhook's signature: HMAC-SHA256 over the timestamp, a dot and the raw body.

Headers: `X-PartnerWatch-Timestamp` (Unix seconds), `X-PartnerWatch-Signature` (`v1=` and the hex digest of
HMAC-SHA256(signing key, f"{timestamp}." + body)), `Idempotency-Key` (the same for every attempt of a
delivery). A receiver recomputes the digest over the bytes it received, compares in constant time, and
refuses a timestamp more than `REPLAY_WINDOW_S` away from its clock (docs/alerts.md has the recipe).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

TIMESTAMP_HEADER = "X-PartnerWatch-Timestamp"
SIGNATURE_HEADER = "X-PartnerWatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
VERSION = "v1"
REPLAY_WINDOW_S = 300


def new_key() -> str:
    """A new signing key (shown once, when the channel is created)."""
    return "pwsk_" + secrets.token_urlsafe(32)


def signature(key: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def headers(key: str, body: bytes, idempotency_key: str, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(key, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify(key: str, timestamp: str, body: bytes, received: str, now: float | None = None) -> bool:
    """Whether `received` signs `body` at `timestamp` with `key`, within the replay window."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent_at) > REPLAY_WINDOW_S:
        return False
    return hmac.compare_digest(signature(key, sent_at, body), received)
