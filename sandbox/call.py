"""Call: one parsed API request as the route handlers see it (state, query, JSON body, token)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.config import Inferred
from sandbox.errors import EMPTY_ACCESS_TOKEN, INVALID_ACCESS_TOKEN, ApiError
from sandbox.world import World


@dataclass(frozen=True)
class Call:
    """Everything a handler needs; `user_id()` authenticates through the Access-Token header."""

    world: World
    query: Mapping[str, str]
    body: dict[str, Any]
    access_token: str | None
    inferred: Inferred = field(default_factory=Inferred)

    def require_token(self) -> str:
        """The Access-Token header value; 40104 when it is missing or empty."""
        if not self.access_token:
            raise ApiError(EMPTY_ACCESS_TOKEN)
        return self.access_token

    def user_id(self) -> str:
        """The user the token belongs to; 40104 without a token, 40105 for an unknown or revoked one."""
        record = self.world.token(self.require_token())
        if record is None:
            raise ApiError(INVALID_ACCESS_TOKEN)
        return record.user_id
