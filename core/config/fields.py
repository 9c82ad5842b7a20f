"""How each setting is read and checked: URLs, lists, sign-in roles, the database, encryption keys, the API
token, and whether the app runs against the sandbox. Each raises ConfigError naming the variable."""

from __future__ import annotations

from pathlib import Path

from core.config.errors import ConfigError
from core.config.source import Source
from core.security.crypto import InvalidKeyError, load_or_create_api_token, load_or_create_sandbox_key, validate_key
from core.security.roles import RoleRules, normalize_entry

DB_FILE = "partnerwatch.duckdb"


_ROLE_SOURCES = (("admins", "PW_ROLE_ADMINS"), ("analysts", "PW_ROLE_ANALYSTS"), ("guests", "PW_ROLE_GUESTS"))


def role_rules(src: Source) -> RoleRules:
    """Role entries per role: the env var (comma separated) wins over `[partnerwatch.roles]` in secrets.toml."""
    section = src.secrets.get("partnerwatch", {})
    table = section.get("roles", {}) if isinstance(section, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError("partnerwatch.roles in secrets.toml must be a table (admins, analysts, guests)")
    unknown = set(table) - {key for key, _ in _ROLE_SOURCES}
    if unknown:
        raise ConfigError(f"partnerwatch.roles has unknown keys {sorted(unknown)}: use admins, analysts, guests")
    found: dict[str, tuple[str, ...]] = {}
    for key, var in _ROLE_SOURCES:
        env_value = src.env.get(var)
        if env_value is not None and env_value.strip():
            raw, label = [part for part in env_value.split(",") if part.strip()], var
        else:
            raw, label = table.get(key, []), f"partnerwatch.roles.{key} in secrets.toml"
        if isinstance(raw, str) or not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
            raise ConfigError(f"{label} must be a list of e-mail addresses or @domain entries")
        try:
            found[key] = tuple(normalize_entry(item) for item in raw)
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    return RoleRules(**found)


def host_list(src: Source, var: str, toml_key: str) -> tuple[str, ...]:
    """A comma-separated variable or a TOML list of strings."""
    found = src.get(var, toml_key)
    if found is None:
        return ()
    value, label = found
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{label} must be a list of host names, addresses or CIDR ranges")
    return tuple(i.strip() for i in items if i.strip())


def is_sandbox(src: Source) -> bool:
    app_id = src.get("PW_TIKTOK_APP_ID", "tiktok.app_id")
    secret = src.get("PW_TIKTOK_APP_SECRET", "tiktok.app_secret")
    if app_id is None and secret is None:
        return True
    if app_id is None or secret is None:
        missing = "PW_TIKTOK_APP_ID (tiktok.app_id)" if app_id is None else "PW_TIKTOK_APP_SECRET (tiktok.app_secret)"
        raise ConfigError(
            f"{missing} is not set while the other TikTok credential is: set both for the live API, "
            "or neither for the sandbox"
        )
    return False


def url(src: Source, var: str, toml_key: str, default: str) -> str:
    value = src.text(var, toml_key, default) or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{var} ({toml_key}) must be an http(s) URL, got {value!r}")
    return value


def optional_url(src: Source, var: str) -> str | None:
    value = src.text(var, None, None)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{var} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def database_url(src: Source) -> str | None:
    value = src.text("PW_DATABASE_URL", "partnerwatch.database_url", None)
    if value is None or not value.strip():
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError("PW_DATABASE_URL must be a postgresql:// URL (unset: the DuckDB file PW_DB_PATH)")
    return value.strip()


def resolve(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def db_path(src: Source, root: Path, data_dir: Path) -> Path:
    """PW_DB_PATH when set (relative to the repository root), else the database file in the data directory."""
    value = src.text("PW_DB_PATH", "partnerwatch.db_path", None)
    if value is None:
        return data_dir / DB_FILE
    return Path(":memory:") if value == ":memory:" else resolve(root, value)


def encryption_keys(src: Source, sandbox: bool, data_dir: Path) -> tuple[tuple[str, ...], Path | None]:
    found = src.get("PW_ENCRYPTION_KEYS", "partnerwatch.encryption_keys")
    if found is None:
        if not sandbox:
            return (), None
        return (load_or_create_sandbox_key(data_dir),), data_dir / "sandbox.key"
    value, label = found
    if isinstance(value, str):
        keys = tuple(part.strip() for part in value.split(",") if part.strip())
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        keys = tuple(item.strip() for item in value if item.strip())
    else:
        raise ConfigError(f"{label} must be a comma-separated string or a list of strings")
    for position, key in enumerate(keys, start=1):
        try:
            validate_key(key, position)
        except InvalidKeyError as exc:
            raise ConfigError(f"{label}: {exc}") from None
    return keys, None


def api_token(src: Source, sandbox: bool, data_dir: Path) -> str | None:
    configured = src.text("PW_API_TOKEN", "partnerwatch.api_token", None)
    if configured:
        if len(configured) < 16:
            raise ConfigError("PW_API_TOKEN (partnerwatch.api_token) must be at least 16 characters long")
        return configured
    return load_or_create_api_token(data_dir) if sandbox else None
