"""Why a partner's member sync stopped; nothing of that partner was applied."""

from __future__ import annotations

from core.errors import UserError


class MemberSyncError(UserError):
    """A user-facing reason a partner's member sync stopped; nothing of it was applied."""


class SyncHalted(MemberSyncError):
    """The mass-removal safeguard stopped the sync."""
