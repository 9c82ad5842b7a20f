"""SecretBox round trip, rotation, errors; sandbox key file; fingerprints."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from core.security.crypto import (
    DecryptError,
    InvalidKeyError,
    MissingKeyError,
    SecretBox,
    fingerprint,
    load_or_create_sandbox_key,
)


def test_round_trip() -> None:
    box = SecretBox([SecretBox.generate_key()])
    ciphertext = box.encrypt("act.0123456789abcdef ünïcode")
    assert isinstance(ciphertext, bytes)
    assert b"act.0123456789abcdef" not in ciphertext
    assert box.decrypt(ciphertext) == "act.0123456789abcdef ünïcode"


def test_rotation_new_key_first() -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    stored = SecretBox([old]).encrypt("token-value")
    both = SecretBox([new, old])
    assert both.decrypt(stored) == "token-value"
    rotated = both.rotate(stored)
    assert SecretBox([new]).decrypt(rotated) == "token-value"
    with pytest.raises(DecryptError):
        SecretBox([old]).decrypt(rotated)


def test_wrong_key_is_a_clear_error() -> None:
    stored = SecretBox([SecretBox.generate_key()]).encrypt("token-value")
    other = SecretBox([SecretBox.generate_key()])
    with pytest.raises(DecryptError, match="no longer configured"):
        other.decrypt(stored)
    with pytest.raises(DecryptError):
        other.rotate(stored)
    with pytest.raises(DecryptError):
        other.decrypt(b"garbage")


def test_missing_key() -> None:
    with pytest.raises(MissingKeyError, match="PW_ENCRYPTION_KEYS"):
        SecretBox([])
    with pytest.raises(MissingKeyError):
        SecretBox(["", "  "])


def test_malformed_key_names_position_not_value() -> None:
    with pytest.raises(InvalidKeyError, match="#2") as caught:
        SecretBox([SecretBox.generate_key(), "short-secret-key"])
    assert "short-secret-key" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_single_string_is_one_key() -> None:
    key = SecretBox.generate_key()
    box = SecretBox(key)
    assert box.key_count == 1
    assert key not in repr(box)


def test_decrypt_accepts_memoryview() -> None:
    box = SecretBox([SecretBox.generate_key()])
    assert box.decrypt(memoryview(box.encrypt("v"))) == "v"  # type: ignore[arg-type]


def test_sandbox_key_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    key = load_or_create_sandbox_key(data_dir)
    path = data_dir / "sandbox.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert load_or_create_sandbox_key(data_dir) == key
    assert SecretBox([key]).decrypt(SecretBox([key]).encrypt("x")) == "x"
    assert [p.name for p in data_dir.iterdir()] == ["sandbox.key"]


def test_sandbox_key_permissions_are_tightened(tmp_path: Path) -> None:
    key = load_or_create_sandbox_key(tmp_path)
    (tmp_path / "sandbox.key").chmod(0o644)
    assert load_or_create_sandbox_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / "sandbox.key").stat().st_mode) == 0o600


def test_sandbox_key_concurrent_creation_agrees(tmp_path: Path) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(load_or_create_sandbox_key(tmp_path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len(set(results)) == 1


def test_corrupt_sandbox_key_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "sandbox.key").write_text("not a key\n")
    with pytest.raises(InvalidKeyError):
        load_or_create_sandbox_key(tmp_path)


def test_fingerprint_short_stable_not_reversible() -> None:
    value = "act.5f4dcc3b5aa765d61d8327deb882cf99"
    fp = fingerprint(value)
    assert fp == fingerprint(value)
    assert fp != fingerprint(value + "x")
    assert len(fp) == 12
    assert all(ch in "0123456789abcdef" for ch in fp)
    assert fp not in value
