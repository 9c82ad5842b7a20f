"""ConfigError, which names every variable to fix, and the collector that gathers a load's problems into one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.errors import UserError

T = TypeVar("T")
U = TypeVar("U")


class ConfigError(UserError, ValueError):
    """Configuration values are missing or malformed; each problem names the variable to fix."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class Problems:
    """Collects every ConfigError of a load, so one message can list them all."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def __call__(self, read: Callable[[], T], fallback: U) -> T | U:
        try:
            return read()
        except ConfigError as exc:
            self.found.extend(exc.problems)
            return fallback
