"""The whole member sync against a sandbox whose every INFERRED behaviour is at its strictest
(`sandbox.config.Inferred.strict()`): unknown filtering keys refused, free-text filters capped at 250
characters, pages past the end refused, exact keyword matches, no empty `ext_user_role`, and so on.
It completes with the same members, reach and shared assets as against the lenient default sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.accounts import partners
from core.services import Services
from sandbox.server import SandboxServer
from tests.support.compare import assert_matches_world, comparable, exported_rows
from tests.support.onboarding import onboard


def _assets(svc: Services) -> set[tuple]:
    return {
        (p.bc_id, *row)
        for p in partners.all_current(svc.store)
        for row in partners.assets(svc.store, p.bc_id)[["asset_id", "asset_type", "share_type"]].itertuples(index=False)
    }


@pytest.mark.slow
def test_member_sync_in_the_strictest_sandbox_matches_the_default_one(
    tmp_path: Path, onboarded: Services, strict_sandbox: SandboxServer
) -> None:
    strict = onboard(tmp_path / "strict", strict_sandbox)
    try:
        assert_matches_world(strict, strict_sandbox)
        assert comparable(exported_rows(strict)) == comparable(exported_rows(onboarded))
        assert _assets(strict) == _assets(onboarded)
        assert {a[2] for a in _assets(strict)} == {"ADVERTISER", "CATALOG"}  # what the seed-7 world shares
    finally:
        strict.close()
