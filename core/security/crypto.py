"""Encryption at rest for tokens and vault secrets (Fernet/MultiFernet), plus sandbox key files.

`SecretBox` encrypts with the first (primary) key and decrypts with any configured key, so keys rotate
by putting the new key first, running `rotate()` over stored ciphertexts, then dropping the old key.
In sandbox mode a key (and a CLI API token) is generated once under `data/` with file mode 0600.
Error messages never contain key material.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

SANDBOX_KEY_FILE = "sandbox.key"
API_TOKEN_FILE = "api.token"  # a file name  # noqa: S105
_FILE_MODE = 0o600


class CryptoError(Exception):
    """Base class of the errors raised here."""


class MissingKeyError(CryptoError):
    """No encryption key is configured, so nothing may be stored encrypted."""


class InvalidKeyError(CryptoError, ValueError):
    """A configured key is not a Fernet key."""


class DecryptError(CryptoError):
    """A ciphertext cannot be decrypted with any configured key (or is corrupt)."""


def validate_key(key: str, position: int = 1) -> Fernet:
    """A Fernet for `key`, or InvalidKeyError naming its position in the key list (never its value)."""
    try:
        return Fernet(key.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise InvalidKeyError(
            f"encryption key #{position} is not a valid Fernet key (44 characters of url-safe base64 "
            "encoding 32 bytes); generate one with SecretBox.generate_key()"
        ) from None


class SecretBox:
    """Encrypts with the primary key, decrypts and rotates with any of the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str):
            keys = [keys]
        cleaned = [key for key in keys if key and key.strip()]
        if not cleaned:
            raise MissingKeyError(
                "No encryption key is configured: set PW_ENCRYPTION_KEYS (or partnerwatch.encryption_keys "
                "in .streamlit/secrets.toml) before storing tokens or secrets"
            )
        fernets = [validate_key(key, n) for n, key in enumerate(cleaned, start=1)]
        self._primary = fernets[0]
        self._fernet = MultiFernet(fernets)
        self.key_count = len(cleaned)

    def __repr__(self) -> str:
        return f"SecretBox(keys={self.key_count})"

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key, as text."""
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(ciphertext)).decode("utf-8")
        except InvalidToken:
            raise DecryptError(_DECRYPT_HINT) from None

    def is_current(self, ciphertext: bytes) -> bool:
        """Whether `ciphertext` is already encrypted with the primary (newest) key."""
        try:
            self._primary.decrypt(bytes(ciphertext))
        except InvalidToken:
            return False
        return True

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt `ciphertext` with the primary key."""
        try:
            return self._fernet.rotate(bytes(ciphertext))
        except InvalidToken:
            raise DecryptError(_DECRYPT_HINT) from None


_DECRYPT_HINT = (
    "Cannot decrypt a stored secret: it was encrypted with a key that is no longer configured, or it is "
    "corrupt. Keep the old key in PW_ENCRYPTION_KEYS (after the new one) until key rotation has run."
)


def fingerprint(secret: str) -> str:
    """A short, non-reversible identifier of a secret for audit logs (12 hex chars of its SHA-256)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def load_or_create_sandbox_key(data_dir: Path) -> str:
    """The sandbox encryption key in `data_dir/sandbox.key`, generated (mode 0600) on first use."""
    key = _load_or_create(Path(data_dir) / SANDBOX_KEY_FILE, SecretBox.generate_key, "encryption key")
    validate_key(key)
    return key


def load_or_create_api_token(data_dir: Path) -> str:
    """The sandbox CLI API token in `data_dir/api.token`, generated (mode 0600) on first use."""
    return _load_or_create(Path(data_dir) / API_TOKEN_FILE, lambda: secrets.token_urlsafe(32), "API token")


def _load_or_create(path: Path, factory: Callable[[], str], what: str) -> str:
    existing = _read_secret_file(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(factory() + "\n")
        os.link(tmp, path)  # atomic: fails when another thread or process created it first
        log.warning("Sandbox mode: generated a new %s in %s (keep this file private)", what, path)
    except FileExistsError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)
    value = _read_secret_file(path)
    if value is None:
        raise CryptoError(f"{path} is empty; delete it to generate a new {what}")
    return value


def _read_secret_file(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(_FILE_MODE)
        log.warning("Tightened the permissions of %s to 0600", path)
    return value or None
