"""Key rotation retires the old key for real: afterwards no file under the data directory (the DuckDB file,
its WAL, anything else) holds a Fernet token that the old key opens, whether the CLI rotated with the app
stopped or the running app rotated (the CLI's /api/keys/rotate) with its store open."""

from __future__ import annotations

import io
import re
import socket
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core import cli
from core.accounts import tokens
from core.connect import vault
from core.security import keys
from core.security.crypto import SecretBox
from core.services import Services, install
from tests.support.services import ADMIN_ACTOR, make_services

# A Fernet token is url-safe base64 of version byte 0x80 + 8-byte timestamp + ...: it starts "gAAAAA".
FERNET_TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_-]{50,}={0,2}")


def old_key_openings(root: Path, key: str) -> list[str]:
    """Every place under `root` where the raw bytes hold a token that `key` decrypts."""
    fernet, found = Fernet(key.encode("ascii")), []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for match in FERNET_TOKEN.finditer(path.read_bytes()):
            try:
                fernet.decrypt(match.group(0))
            except InvalidToken:
                continue
            found.append(f"{path.name}@{match.start()}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _services(tmp_path: Path, keys_env: str) -> Services:
    # a port nothing listens on, so the CLI opens the database itself rather than finding some running app
    return make_services(tmp_path, None, PW_ENCRYPTION_KEYS=keys_env, PW_PORT=str(_free_port()))


def _secrets_under_old_key(tmp_path: Path, old: str) -> None:
    """Tokens and a vault item encrypted with `old`, checkpointed into the database file by a clean close."""
    svc = _services(tmp_path, old)
    with svc.store.write() as cur:
        for n in range(5):
            tokens.save(cur, svc.box, purpose="partner", bc_id=str(n), access_token=f"act.partner-{n:04d}", actor="t")
    vault.add(
        svc.store,
        svc.box,
        ADMIN_ACTOR,
        partner_bc_id=None,
        email="m@agency.example",
        phone="+1 555",
        password="Vault-Password-0003",
    )
    svc.close()
    assert len(old_key_openings(tmp_path, old)) == 8  # the scan sees them before rotation


def test_cli_rotation_leaves_nothing_the_old_key_opens(tmp_path):
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    _secrets_under_old_key(tmp_path, old)
    settings = _services(tmp_path, f"{new},{old}").settings
    install(None)
    out = io.StringIO()
    assert cli.main(["-v", "rotate-key"], settings=settings, out=out) == cli.OK, out.getvalue()
    assert "Re-encrypted 8 secret value(s)" in out.getvalue()
    assert old_key_openings(tmp_path, old) == []
    svc = _services(tmp_path, new)  # the new key alone opens everything, and the schema is intact
    assert tokens.load(svc.store, svc.box, 5) == "act.partner-0004"
    assert vault.reveal(svc.store, svc.box, ADMIN_ACTOR, 1).password == "Vault-Password-0003"
    with svc.store.write() as cur:  # sequences continue where they were: no id is handed out twice
        tokens.save(cur, svc.box, purpose="customer", bc_id=None, access_token="act.customer-0006", actor="t")
    assert tokens.load(svc.store, svc.box, 6) == "act.customer-0006"
    install(None)
    svc.close()


def test_rotation_in_the_running_app_leaves_nothing_the_old_key_opens(tmp_path):
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    _secrets_under_old_key(tmp_path, old)
    svc = _services(tmp_path, f"{new},{old}")
    try:
        assert tokens.load(svc.store, svc.box, 1) == "act.partner-0000"
        report = keys.rotate_all(svc.store, svc.box, ADMIN_ACTOR)  # what POST /api/keys/rotate runs
        assert (report.rotated, report.current) == (8, 0)
        assert old_key_openings(tmp_path, old) == []  # with the store still open: nothing in the WAL either
        assert tokens.load(svc.store, svc.box, 1) == "act.partner-0000"  # the app goes on using the store
    finally:
        install(None)
        svc.close()
    assert old_key_openings(tmp_path, old) == []
