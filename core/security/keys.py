"""Key rotation: re-encrypt every stored secret (tokens, vault items, alert channels) under the primary key.

Run with the new key first and the old one after it (PW_ENCRYPTION_KEYS=NEW,OLD, i.e. MultiFernet(NEW,
OLD)): `rotate_all` decrypts each ciphertext with whichever key fits and re-encrypts it with NEW. It is
all-or-nothing, in one write transaction (a ciphertext no configured key opens aborts it and changes
nothing), and idempotent: values already under NEW are left as they are, so a second run rotates 0.
Then the database is rewritten into a fresh file (`Store.rewrite`): DuckDB keeps the blocks an UPDATE frees,
old ciphertexts included, in the file's free space and a CHECKPOINT does not overwrite them, so only a
fresh copy leaves nothing the old key opens under the data directory. Last, every stored value is read
back and must open with the primary key alone. Afterwards the old key can be removed from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError
from core.security import audit
from core.security.crypto import DecryptError, SecretBox
from core.security.roles import Actor, require_admin
from core.store.cursor import Cursor
from core.store.database import Store, StoreError

# (table, id column, ciphertext columns); revoked tokens keep an empty ciphertext, which is skipped
ENCRYPTED = (
    ("tokens", "id", ("ciphertext",)),
    ("vault_items", "id", ("email_ct", "phone_ct", "password_ct")),
    ("alert_channels", "id", ("secret_ct",)),
)


class RotationError(UserError, RuntimeError):
    """Rotation stopped and changed nothing; the message says which value could not be decrypted."""


@dataclass(frozen=True)
class RotationReport:
    rotated: int  # values re-encrypted under the primary key now
    current: int  # values already under the primary key
    keys: int  # configured keys

    def line(self) -> str:
        return (
            f"Re-encrypted {self.rotated} secret value(s) under the primary key; {self.current} were already "
            f"under it ({self.keys} key(s) configured). The database file was rewritten and every secret "
            "opens with the primary key alone."
        )


def rotate_all(store: Store, box: SecretBox, actor: Actor) -> RotationReport:
    """Re-encrypt every stored secret under the primary key, in one transaction (admins; audited)."""
    require_admin(actor, "rotate the encryption key")
    rotated = current = 0
    try:
        with store.write() as cur:
            for table, id_column, columns in ENCRYPTED:
                for column in columns:
                    done, kept = _rotate_column(cur, box, table, id_column, column)
                    rotated, current = rotated + done, current + kept
            _audit(store, actor, "ok", f"{rotated} re-encrypted, {current} already current")
    except DecryptError as exc:
        _audit(store, actor, "failed", str(exc))
        raise RotationError(f"Nothing was changed. {exc}") from None
    try:
        store.rewrite()
    except StoreError as exc:
        raise RotationError(
            f"The secrets were re-encrypted, but the database file still holds old copies: {exc}. "
            "Run rotate-key again (it rewrites the file even when nothing is left to "
            "re-encrypt)."
        ) from None
    _verify(store, box)
    return RotationReport(rotated, current, box.key_count)


def _audit(store: Store, actor: Actor, outcome: str, detail: str) -> None:
    audit.record(
        store, actor=actor.email, action="settings.rotate_key", target="stored secrets", outcome=outcome, detail=detail
    )


def _verify(store: Store, box: SecretBox) -> None:
    """Every stored ciphertext opens with the primary key alone (RotationError naming the first that does not)."""
    with store.read() as cur:
        for table, id_column, columns in ENCRYPTED:
            for column in columns:
                for row_id, value in _ciphertexts(cur, table, id_column, column):
                    if not box.is_current(value):
                        raise RotationError(
                            f"{table}.{column} of row {row_id} does not open with the primary "
                            "key after rotation; keep the old key configured."
                        )


def _rotate_column(cur: Cursor, box: SecretBox, table: str, id_column: str, column: str) -> tuple[int, int]:
    rows = _ciphertexts(cur, table, id_column, column)
    changed: list[tuple[bytes, object]] = []
    for row_id, ciphertext in rows:
        if box.is_current(ciphertext):
            continue
        try:
            changed.append((box.rotate(ciphertext), row_id))
        except DecryptError:
            raise DecryptError(
                f"{table}.{column} of row {row_id} cannot be decrypted with any configured key "
                "(keep the old key after the new one in PW_ENCRYPTION_KEYS)."
            ) from None
    if changed:
        cur.executemany(f"UPDATE {table} SET {column} = ? WHERE {id_column} = ?", changed)
    return len(changed), len(rows) - len(changed)


def _ciphertexts(cur: Cursor, table: str, id_column: str, column: str) -> list[tuple[object, bytes]]:
    rows = cur.execute(f"SELECT {id_column}, {column} FROM {table} WHERE octet_length({column}) > 0").fetchall()
    return [(row_id, bytes(value)) for row_id, value in rows]
