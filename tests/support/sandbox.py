"""Small helpers shared by the sandbox tests."""

from __future__ import annotations

from sandbox.models import PartnerInfo
from sandbox.server import SandboxServer


def partner(sandbox: SandboxServer, number: int) -> PartnerInfo:
    """The PartnerInfo of partner `number` (1-based)."""
    return sandbox.world.partners[number - 1]
