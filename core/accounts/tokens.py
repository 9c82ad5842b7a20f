"""TikTok access tokens, encrypted at rest. Plaintext exists only in memory, on its way to TikTok."""

from __future__ import annotations

from datetime import UTC, datetime

from core.logging_setup import register_secret
from core.security.crypto import SecretBox, fingerprint
from core.store.cursor import Cursor
from core.store.database import Store


def save(
    cur: Cursor,
    box: SecretBox,
    *,
    purpose: str,
    bc_id: str | None,
    access_token: str,
    actor: str,
    tiktok_user: str | None = None,
) -> int:
    """Encrypt and store a token inside the caller's transaction; returns its id."""
    register_secret(access_token)
    row = cur.execute(
        """INSERT INTO tokens (purpose, bc_id, ciphertext, fingerprint, tiktok_user, created_by, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [purpose, bc_id, box.encrypt(access_token), fingerprint(access_token), tiktok_user, actor, datetime.now(UTC)],
    ).fetchone()
    assert row is not None  # INSERT … RETURNING returns the inserted row
    return int(row[0])


def load(store: Store, box: SecretBox, token_id: int | None) -> str | None:
    """The plaintext of a live token, or None when it is missing or revoked."""
    if token_id is None:
        return None
    with store.read() as cur:
        row = cur.execute("SELECT ciphertext FROM tokens WHERE id = ? AND revoked_at IS NULL", [token_id]).fetchone()
    if row is None:
        return None
    token = box.decrypt(bytes(row[0]))
    register_secret(token)
    return token


def delete(cur: Cursor, token_id: int) -> None:
    """Forget a token: the ciphertext goes, the row stays for the audit trail."""
    cur.execute(
        "UPDATE tokens SET ciphertext = ''::BLOB, revoked_at = ? WHERE id = ?",
        [datetime.now(UTC), token_id],
    )


def in_use(store: Store, box: SecretBox, access_token: str) -> bool:
    """Whether PartnerWatch holds this token live (TikTok may hand the same token out again)."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT ciphertext FROM tokens WHERE fingerprint = ? AND revoked_at IS NULL", [fingerprint(access_token)]
        ).fetchall()
    return any(box.decrypt(bytes(row[0])) == access_token for row in rows)
