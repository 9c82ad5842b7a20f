"""Where a setting is read from: the environment, which wins, or `.streamlit/secrets.toml` (sections `[tiktok]`
and `[partnerwatch]`); typed reads that raise ConfigError naming the variable."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.config.errors import ConfigError

T = TypeVar("T")


def load_source(env: Mapping[str, str] | None, secrets_file: Path | None, root: Path) -> Source:
    """The environment (`os.environ` when None) and the secrets file (default: `.streamlit/secrets.toml` under
    `root`)."""
    secrets_path = secrets_file if secrets_file is not None else root / ".streamlit" / "secrets.toml"
    return Source(env=os.environ if env is None else env, secrets=read_secrets(secrets_path))


@dataclass(frozen=True)
class Source:
    """The environment and the parsed secrets file of one load."""

    env: Mapping[str, str]
    secrets: dict[str, Any]

    def get(self, var: str, toml_key: str | None) -> tuple[Any, str] | None:
        """The raw value and a label naming where it came from, or None when unset (or empty)."""
        value = self.env.get(var)
        if value is not None and str(value).strip() != "":
            return value, var
        if toml_key is None:
            return None
        section, _, key = toml_key.partition(".")
        table = self.secrets.get(section, {})
        value = table.get(key) if isinstance(table, dict) else None
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return value, f"{toml_key} in secrets.toml"

    def text(self, var: str, toml_key: str | None, default: str | None) -> str | None:
        found = self.get(var, toml_key)
        if found is None:
            return default
        value, label = found
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"{label} must be a string, got {type(value).__name__}")
        return str(value).strip()

    def number(
        self, var: str, toml_key: str | None, default: T, kind: Callable[[Any], T], *, low: float, high: float
    ) -> T:
        found = self.get(var, toml_key)
        if found is None:
            return default
        value, label = found
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            parsed = kind(str(value).strip())
        except ValueError:
            raise ConfigError(f"{label} must be {_kind_name(kind)}, got {value!r}") from None
        if not low <= parsed <= high:  # type: ignore[operator]
            raise ConfigError(f"{label} must be between {low:g} and {high:g}, got {value!r}")
        return parsed


def _kind_name(kind: Callable[[Any], Any]) -> str:
    return "a whole number" if kind is int else "a number"


def read_secrets(path: Path) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
