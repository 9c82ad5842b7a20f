"""Key rotation: re-encrypt every stored secret (tokens, vault items) under the primary key.

Run with the new key first and the old one after it (PW_ENCRYPTION_KEYS=NEW,OLD, i.e. MultiFernet(NEW,
OLD)): `rotate_all` decrypts each ciphertext with whichever key fits and re-encrypts it with NEW. It is
all-or-nothing, in one write transaction (a ciphertext no configured key opens aborts it and changes
nothing), and idempotent: values already under NEW are left as they are, so a second run rotates 0.
Afterwards the old key can be removed from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from core.security import audit
from core.security.crypto import DecryptError, SecretBox
from core.security.roles import Actor, require_admin
from core.store.database import Store

# (table, id column, ciphertext columns); revoked tokens keep an empty ciphertext, which is skipped
ENCRYPTED = (
    ("tokens", "id", ("ciphertext",)),
    ("vault_items", "id", ("email_ct", "phone_ct", "password_ct")),
)


class RotationError(RuntimeError):
    """Rotation stopped and changed nothing; the message says which value could not be decrypted."""


@dataclass(frozen=True)
class RotationReport:
    rotated: int  # values re-encrypted under the primary key now
    current: int  # values already under the primary key
    keys: int  # configured keys

    def line(self) -> str:
        return (f"Re-encrypted {self.rotated} secret value(s) under the primary key; {self.current} were already "
                f"under it ({self.keys} key(s) configured).")


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
            audit.record(store, actor=actor.email, action="settings.rotate_key", target="stored secrets",
                         outcome="ok", detail=f"{rotated} re-encrypted, {current} already current")
    except DecryptError as exc:
        audit.record(store, actor=actor.email, action="settings.rotate_key", target="stored secrets",
                     outcome="failed", detail=str(exc))
        raise RotationError(f"Nothing was changed. {exc}") from None
    return RotationReport(rotated, current, box.key_count)


def _rotate_column(cur: duckdb.DuckDBPyConnection, box: SecretBox, table: str, id_column: str,
                   column: str) -> tuple[int, int]:
    rows = cur.execute(f"SELECT {id_column}, {column} FROM {table} WHERE octet_length({column}) > 0").fetchall()
    changed: list[tuple[bytes, object]] = []
    for row_id, value in rows:
        ciphertext = bytes(value)
        if box.is_current(ciphertext):
            continue
        try:
            changed.append((box.rotate(ciphertext), row_id))
        except DecryptError:
            raise DecryptError(f"{table}.{column} of row {row_id} cannot be decrypted with any configured key "
                               "(keep the old key after the new one in PW_ENCRYPTION_KEYS).") from None
    if changed:
        cur.executemany(f"UPDATE {table} SET {column} = ? WHERE {id_column} = ?", changed)
    return len(changed), len(rows) - len(changed)
