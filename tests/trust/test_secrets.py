"""Secrets: after a full sandbox run (connect, sync, vault add and reveal, exports, every page rendered), no
access token or vault password appears in plain text in the DuckDB file, the logs, any export or any page."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.accounts import tokens
from core.connect import vault
from core.members import export
from core.members.filters import MemberFilter
from core.security.audit_export import AuditFilter, csv_bytes
from tests.support.onboarding import run_sync
from tests.support.services import ADMIN_ACTOR, ANALYST_ACTOR

SHELL = "../../ui/shell.py"
PASSWORD = "Monitor-Vault-Pa55word-7f3c"
PAGES = (
    "../pages/partners.py",
    "../pages/members.py",
    "../pages/automation.py",
    "../pages/settings.py",
    "../pages/connect.py",
)


def _rendered(node) -> str:
    """Everything an AppTest element tree sends to the browser, as text (protos include table bytes)."""
    parts = [str(getattr(node, "proto", "") or "")]
    for child in getattr(node, "children", {}).values():
        parts.append(_rendered(child))
    return "\n".join(parts)


def _pages_text() -> str:
    at = AppTest.from_file(SHELL, default_timeout=30).run()
    texts = [_rendered(at._tree)]
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception
        texts.append(_rendered(at._tree))
    return "\n".join(texts)


def test_no_plaintext_secret_anywhere_after_a_full_run(workspace_factory, sandbox, tmp_path: Path):
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger().addHandler(handler)  # before the services exist: it gets the redacting filter
    try:
        svc = workspace_factory()
        assert run_sync(svc)[1] == "Completed"
        item = vault.add(
            svc.store,
            svc.box,
            ADMIN_ACTOR,
            partner_bc_id=None,
            email="monitor@agency.example",
            phone="+1 555 0100",
            password=PASSWORD,
        )
        assert vault.reveal(svc.store, svc.box, ADMIN_ACTOR, item.id).password == PASSWORD
        with svc.store.read() as cur:
            ids = [r[0] for r in cur.execute("SELECT id FROM tokens WHERE octet_length(ciphertext) > 0").fetchall()]
        secrets = [t for t in (tokens.load(svc.store, svc.box, i) for i in ids) if t] + [PASSWORD]
        assert len(secrets) >= 3
        logging.getLogger("tests.trust").info("token check %s and password %s", secrets[0], PASSWORD)
        exports = [
            b"".join(export.stream_members(svc.store, MemberFilter(include_removed=True), actor=ANALYST_ACTOR)),
            csv_bytes(svc.store, ADMIN_ACTOR, AuditFilter()),
        ]
        pages = _pages_text()
        svc.close()  # checkpoint: everything is in the database file now
    finally:
        logging.getLogger().removeHandler(handler)

    database = b"".join(p.read_bytes() for p in tmp_path.glob("pw.duckdb*"))
    assert "[REDACTED]" in log.getvalue()
    assert "Check for updates" in pages  # the pages really rendered
    assert "Audit log" in pages
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in log.getvalue()
        assert all(secret.encode() not in body for body in exports)
        assert secret not in pages
