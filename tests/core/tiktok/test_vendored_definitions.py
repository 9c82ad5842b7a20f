"""The vendored definitions are TikTok's files unchanged: equal to the shared reference folder where it exists."""

from __future__ import annotations

import pytest

from tests.support.tiktok_definitions.loader import HERE, SHARED


def test_the_vendored_copy_equals_the_shared_definitions() -> None:
    if not SHARED.is_dir():
        pytest.skip("no shared reference folder beside the project")
    shared = {p.name: p.read_bytes() for p in SHARED.glob("*.yml")}
    assert shared
    assert {p.name: p.read_bytes() for p in HERE.glob("*.yml")} == shared
