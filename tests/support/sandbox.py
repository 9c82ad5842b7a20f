"""The TikTok sandbox in tests: one server per test session on a free port (reset before each test using it),
a second one at its strictest, and helpers that drive it (`control`) or read its world."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.config import Inferred
from sandbox.models import PartnerInfo
from sandbox.server import SandboxConfig, SandboxServer

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


def partner(sandbox: SandboxServer, number: int) -> PartnerInfo:
    """The PartnerInfo of partner `number` (1-based)."""
    return sandbox.world.partners[number - 1]


def monitored_partners(sandbox: SandboxServer) -> list[PartnerInfo]:
    """The partners PartnerWatch can connect: eligible, with an ADMIN monitor account."""
    return [p for p in sandbox.world.partners if p.eligible and p.monitor_role == "ADMIN"]


def control(sandbox: SandboxServer, path: str, **body: object) -> dict:
    response = httpx.post(f"{sandbox.base_url}/sandbox/control/{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def world(sandbox: SandboxServer) -> dict:
    return httpx.get(f"{sandbox.base_url}/sandbox/world", timeout=30).json()
