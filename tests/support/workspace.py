"""Fixtures of the trust suite: an onboarded workspace (customer BC and every ADMIN-monitored partner
connected through the portal, synced twice) built once per session and copied per test, plus `content()`,
the synced data without timestamps, to compare before and after a failure."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import services as core_services
from core.services import Services
from core.store.database import Store
from sandbox.server import SandboxServer
from tests.support.onboarding import fast_retries, reissue_tokens
from tests.support.services import make_services

ROOT_DIR = Path(__file__).resolve().parents[2]

CONTENT_SQL = {
    "partners": """SELECT bc_id, name, assets_shared_with_partner, assets_shared_by_partner, connection,
                          removed_at IS NULL FROM partners ORDER BY ALL""",
    "partner_assets": "SELECT partner_bc_id, asset_id, asset_type, asset_name, share_type FROM partner_assets "
    "ORDER BY ALL",
    "members": """SELECT partner_bc_id, member_key, user_id, user_name, user_email, user_role, finance_role,
                         relation_status, removed_at IS NULL FROM members ORDER BY ALL""",
    "member_assets": "SELECT partner_bc_id, member_key, asset_id, asset_type, asset_role FROM member_assets "
    "ORDER BY ALL",
    "member_changes": "SELECT count(*) FROM member_changes",
}


def content(store: Store) -> dict[str, list[tuple]]:
    """Everything a sync writes, without timestamps, read in one snapshot."""
    with store.read() as cur:
        return {name: cur.execute(sql).fetchall() for name, sql in CONTENT_SQL.items()}


@pytest.fixture
def workspace_factory(
    onboarded_template: Path, tmp_path: Path, sandbox: SandboxServer
) -> Iterator[Callable[..., Services]]:
    """`factory(**env)`: a copy of the onboarded workspace (extra env, e.g. PW_HTTP_TIMEOUT) against the
    freshly reset sandbox, with fresh tokens for the same accounts and millisecond retry waits."""
    opened: list[Services] = []

    def factory(**env: str) -> Services:
        shutil.copytree(onboarded_template, tmp_path, dirs_exist_ok=True)
        svc = make_services(tmp_path, sandbox, PW_QPS="1000", **env)
        fast_retries(svc)
        reissue_tokens(svc, sandbox)
        opened.append(svc)
        return svc

    yield factory
    core_services.install(None)
    for svc in opened:
        svc.close()


@pytest.fixture
def onboarded(workspace_factory: Callable[..., Services]) -> Services:
    return workspace_factory()
