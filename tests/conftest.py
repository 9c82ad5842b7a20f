"""Shared fixtures: one TikTok sandbox per test session on a free port, reset before each test using it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.config import Inferred
from sandbox.server import SandboxConfig, SandboxServer

pytest.register_assert_rewrite("tests.support")

pytest_plugins = ["tests.support.onboarding", "tests.support.connect"]

SANDBOX_REDIRECT_URIS = [
    "http://localhost:8501/api/oauth/tiktok/callback",
    "http://testserver/api/oauth/tiktok/callback",
]


def _serve(inferred: Inferred) -> Iterator[SandboxServer]:
    config = SandboxConfig(
        seed=7,
        partners=6,
        members=40,
        qps=1000,
        qpm=100000,
        redirect_uris=list(SANDBOX_REDIRECT_URIS),
        inferred=inferred,
    )
    server = SandboxServer(config).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[SandboxServer]:
    """The session's sandbox (seed 7, 6 partners x 40 members, limits high enough not to get in the way)."""
    yield from _serve(Inferred())


@pytest.fixture
def sandbox(sandbox_session: SandboxServer) -> SandboxServer:
    """The session's sandbox, back to its seeded state (no tokens, faults, sessions; configured limits)."""
    sandbox_session.reset()
    return sandbox_session


@pytest.fixture(scope="session")
def strict_sandbox_session() -> Iterator[SandboxServer]:
    """A second session sandbox, the same world, with every INFERRED behaviour at its strictest."""
    yield from _serve(Inferred.strict())


@pytest.fixture
def strict_sandbox(strict_sandbox_session: SandboxServer) -> SandboxServer:
    strict_sandbox_session.reset()
    return strict_sandbox_session
