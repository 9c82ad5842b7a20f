"""Fault injection: what the next N calls of an API route answer instead of (or before) the real thing."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

API_PREFIX = "/open_api/v1.3/"


@dataclass(frozen=True)
class Fault:
    """One kind of failure. Exactly one of `code`, `http_status`, `hang_seconds`, `malformed` is set.

    - code: HTTP 200 envelope with this body code (40100, 50000, 51004, 40105, ...) and `message`.
    - http_status: 500 or 504 (or any 5xx) with a non-JSON body, as a gateway would send.
    - hang_seconds: the call sleeps that long, then is served normally (client timeouts).
    - malformed: HTTP 200 with a truncated JSON body.
    """

    route: str
    code: int | None = None
    message: str | None = None
    http_status: int | None = None
    hang_seconds: float = 0.0
    malformed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, 0.0, False)}


def normalize_route(route: str) -> str:
    """'bc/member/get/' from '/open_api/v1.3/bc/member/get/', '/bc/member/get/' or 'bc/member/get/'; '*' stays."""
    route = route.strip()
    if route.startswith(API_PREFIX):
        route = route[len(API_PREFIX) :]
    return route.lstrip("/") or "*"


class FaultBook:
    """Pending faults per route ('*' matches every route), consumed one per call, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[list[Any]] = []  # [fault, remaining]

    def add(self, fault: Fault, count: int = 1) -> None:
        with self._lock:
            self._pending.append([fault, count])

    def take(self, route: str) -> Fault | None:
        """The fault for this call of `route`, if any (its remaining count goes down by one)."""
        fault: Fault
        with self._lock:
            for entry in self._pending:
                fault, remaining = entry
                if fault.route in (route, "*") and remaining > 0:
                    entry[1] -= 1
                    self._pending = [e for e in self._pending if e[1] > 0]
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f.as_dict(), count=n) for f, n in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
