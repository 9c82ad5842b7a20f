"""Settings: environment variables and `.streamlit/secrets.toml` folded into one frozen dataclass.

The environment wins over the secrets file (sections `[tiktok]` and `[partnerwatch]`). When neither
names a TikTok app id nor secret the app runs in *sandbox mode*: the local emulator's app credentials and
base URLs are used, and an encryption key and a CLI API token are generated once under `data/`.
The table of fields lives in docs/ARCHITECTURE.md. Secrets never appear in `repr()`, and every secret
value is registered with the logging redaction filter as soon as it is loaded.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.errors import UserError
from core.logging_setup import register_secret
from core.security.crypto import InvalidKeyError, load_or_create_api_token, load_or_create_sandbox_key, validate_key
from core.security.roles import RoleRules, normalize_entry

ROOT = Path(__file__).resolve().parent.parent

SANDBOX_APP_ID = "7100000000000000000"
SANDBOX_APP_SECRET = "sandbox-secret"  # the emulator's published credentials, not a secret  # noqa: S105
LIVE_API_BASE = "https://business-api.tiktok.com/open_api/v1.3/"
LIVE_PORTAL_URL = "https://business-api.tiktok.com/portal/auth"
CALLBACK_PATH = "/api/oauth/tiktok/callback"
DB_FILE = "partnerwatch.duckdb"
# DuckDB's memory limit (PW_DUCKDB_MEMORY_MIB): core.store.database.MEMORY_LIMIT_MIB, which the tests hold it to
DUCKDB_MEMORY_MIB = 112

# What a process runs (PW_PROCESS_ROLE): the UI and routes, the background work, or both (one process, the default)
ROLE_ALL, ROLE_WEB, ROLE_WORKER = "all", "web", "worker"
PROCESS_ROLES = (ROLE_ALL, ROLE_WEB, ROLE_WORKER)

T = TypeVar("T")
U = TypeVar("U")


class ConfigError(UserError, ValueError):
    """Configuration values are missing or malformed; each problem names the variable to fix."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class _Problems:
    """Collects every ConfigError of a load, so one message can list them all."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def __call__(self, read: Callable[[], T], fallback: U) -> T | U:
        try:
            return read()
        except ConfigError as exc:
            self.found.extend(exc.problems)
            return fallback


@dataclass(frozen=True)
class Settings:
    """Everything the process is configured with. Build it with `Settings.load()`."""

    app_id: str
    app_secret: str = field(repr=False)
    api_base_url: str
    portal_auth_url: str
    redirect_uri: str
    db_path: Path
    encryption_keys: tuple[str, ...] = field(repr=False)
    qps: float
    http_timeout_s: float
    port: int
    sandbox_port: int
    sandbox_seed: int
    api_token: str | None = field(repr=False)
    data_dir: Path
    sandbox: bool
    public_url: str
    sandbox_key_file: Path | None = None  # set when the encryption key was generated (sandbox only)
    roles: RoleRules = field(default_factory=RoleRules)  # sign-in roles (PW_ROLE_* / [partnerwatch.roles])
    app_url: str | None = None  # PW_APP_URL: where the CLI reaches the running app (else data/app.url)
    alerts_allow: tuple[str, ...] = ()  # PW_ALERTS_ALLOW: local hosts/CIDRs alerts may reach outside the sandbox
    alerts_max_attempts: int = 8  # PW_ALERTS_MAX_ATTEMPTS: then a delivery is a dead letter
    alerts_backoff_s: float = 30.0  # PW_ALERTS_BACKOFF_S: the first retry's delay (doubles each attempt)
    alerts_lease_s: float = 300.0  # PW_ALERTS_LEASE_S: a dead sender's claim on a delivery lapses after this long
    process_role: str = ROLE_ALL  # PW_PROCESS_ROLE: all | web (UI only, queues tasks) | worker (runs them)
    task_lease_s: float = 60.0  # PW_TASK_LEASE_S: a task whose runner stopped renewing it this long is ended
    duckdb_memory_mib: int = DUCKDB_MEMORY_MIB  # PW_DUCKDB_MEMORY_MIB: beyond it sorts spill to disk
    database_url: str | None = field(default=None, repr=False)  # PW_DATABASE_URL: PostgreSQL instead of db_path
    database_wait_s: float = 5.0  # PW_DATABASE_WAIT_S: how long a unit of work waits for an unreachable server

    @property
    def store_target(self) -> str | Path:
        """What `Store(...)` opens: the PostgreSQL URL when one is configured, else the DuckDB file."""
        return self.database_url or self.db_path

    @property
    def runs_jobs(self) -> bool:
        """Whether this process claims and runs tasks, the schedule and the alert dispatcher."""
        return self.process_role != ROLE_WEB

    @property
    def shared_database(self) -> bool:
        """A database server several processes share (PW_DATABASE_URL), not the one-process DuckDB file."""
        return bool(self.database_url)

    @property
    def sandbox_receiver_url(self) -> str:
        """The embedded sandbox's alert receiver (sandbox mode)."""
        return f"http://127.0.0.1:{self.sandbox_port}/sandbox/webhooks/security"

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        secrets_file: Path | None = None,
        root: Path | None = None,
    ) -> Settings:
        """Read the settings; `env` defaults to `os.environ`, `root` to the repository root."""
        root = Path(root) if root is not None else ROOT
        settings = _build(_source(env, secrets_file, root), root)
        for secret in (settings.app_secret, settings.api_token, *settings.encryption_keys, _password(settings)):
            if secret:
                register_secret(secret)
        return settings


def _source(env: Mapping[str, str] | None, secrets_file: Path | None, root: Path) -> _Source:
    secrets_path = secrets_file if secrets_file is not None else root / ".streamlit" / "secrets.toml"
    return _Source(env=os.environ if env is None else env, secrets=_read_secrets(secrets_path))


@dataclass(frozen=True)
class _Source:
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


def _read_secrets(path: Path) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _build(src: _Source, root: Path) -> Settings:
    keep = _Problems()
    sandbox = keep(lambda: _is_sandbox(src), False)
    port = keep(lambda: src.number("PW_PORT", None, 8501, int, low=1, high=65535), 8501)
    sandbox_port = keep(lambda: src.number("PW_SANDBOX_PORT", None, 9100, int, low=1, high=65535), 9100)
    public_url = keep(
        lambda: _url(src, "PW_PUBLIC_URL", "partnerwatch.public_url", f"http://localhost:{port}"),
        f"http://localhost:{port}",
    ).rstrip("/")
    emulator = f"http://127.0.0.1:{sandbox_port}"
    data_dir = _resolve(root, keep(lambda: src.text("PW_DATA_DIR", "partnerwatch.data_dir", "data"), "data") or "data")
    keys, key_file = keep(lambda: _encryption_keys(src, sandbox, data_dir), ((), None))
    settings = Settings(
        app_id=keep(lambda: src.text("PW_TIKTOK_APP_ID", "tiktok.app_id", SANDBOX_APP_ID), "") or SANDBOX_APP_ID,
        app_secret=keep(lambda: src.text("PW_TIKTOK_APP_SECRET", "tiktok.app_secret", SANDBOX_APP_SECRET), "") or "",
        api_base_url=keep(
            lambda: _url(
                src,
                "PW_TIKTOK_API_BASE",
                "tiktok.api_base_url",
                f"{emulator}/open_api/v1.3/" if sandbox else LIVE_API_BASE,
            ),
            "",
        ),
        portal_auth_url=keep(
            lambda: _url(
                src,
                "PW_TIKTOK_PORTAL_URL",
                "tiktok.portal_auth_url",
                f"{emulator}/portal/auth" if sandbox else LIVE_PORTAL_URL,
            ),
            "",
        ),
        redirect_uri=keep(lambda: _url(src, "PW_REDIRECT_URI", "tiktok.redirect_uri", public_url + CALLBACK_PATH), ""),
        db_path=keep(lambda: _db_path(src, root, data_dir), data_dir / DB_FILE),
        encryption_keys=keys,
        qps=keep(lambda: src.number("PW_QPS", "partnerwatch.qps", 10.0, float, low=0.01, high=10_000), 10.0),
        http_timeout_s=keep(
            lambda: src.number("PW_HTTP_TIMEOUT", "partnerwatch.http_timeout_s", 20.0, float, low=0.1, high=3600), 20.0
        ),
        port=port,
        sandbox_port=sandbox_port,
        sandbox_seed=keep(lambda: src.number("PW_SANDBOX_SEED", None, 7, int, low=-(2**63), high=2**63 - 1), 7),
        api_token=keep(lambda: _api_token(src, sandbox, data_dir), None),
        data_dir=data_dir,
        sandbox=sandbox,
        public_url=public_url,
        sandbox_key_file=key_file,
        roles=keep(lambda: _role_rules(src), RoleRules()),
        app_url=keep(lambda: _optional_url(src, "PW_APP_URL"), None),
        alerts_allow=keep(lambda: _list(src, "PW_ALERTS_ALLOW", "partnerwatch.alerts_allow"), ()),
        alerts_max_attempts=keep(
            lambda: src.number("PW_ALERTS_MAX_ATTEMPTS", "partnerwatch.alerts_max_attempts", 8, int, low=1, high=100), 8
        ),
        alerts_backoff_s=keep(
            lambda: src.number(
                "PW_ALERTS_BACKOFF_S", "partnerwatch.alerts_backoff_s", 30.0, float, low=0.01, high=86400
            ),
            30.0,
        ),
        alerts_lease_s=keep(
            lambda: src.number("PW_ALERTS_LEASE_S", "partnerwatch.alerts_lease_s", 300.0, float, low=1, high=86400),
            300.0,
        ),
        process_role=keep(lambda: _process_role(src), ROLE_ALL),
        database_url=keep(lambda: _database_url(src), None),
        database_wait_s=keep(
            lambda: src.number("PW_DATABASE_WAIT_S", "partnerwatch.database_wait_s", 5.0, float, low=1, high=300), 5.0
        ),
        task_lease_s=keep(
            lambda: src.number("PW_TASK_LEASE_S", "partnerwatch.task_lease_s", 60.0, float, low=1, high=3600), 60.0
        ),
        duckdb_memory_mib=keep(
            lambda: src.number(
                "PW_DUCKDB_MEMORY_MIB",
                "partnerwatch.duckdb_memory_mib",
                DUCKDB_MEMORY_MIB,
                int,
                low=64,
                high=1024 * 1024,
            ),
            DUCKDB_MEMORY_MIB,
        ),
    )
    if keep.found:
        raise ConfigError(*keep.found)
    return settings


_ROLE_SOURCES = (("admins", "PW_ROLE_ADMINS"), ("analysts", "PW_ROLE_ANALYSTS"), ("guests", "PW_ROLE_GUESTS"))


def _role_rules(src: _Source) -> RoleRules:
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


def _list(src: _Source, var: str, toml_key: str) -> tuple[str, ...]:
    """A comma-separated variable or a TOML list of strings."""
    found = src.get(var, toml_key)
    if found is None:
        return ()
    value, label = found
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{label} must be a list of host names, addresses or CIDR ranges")
    return tuple(i.strip() for i in items if i.strip())


def _process_role(src: _Source) -> str:
    value = (src.text("PW_PROCESS_ROLE", None, ROLE_ALL) or ROLE_ALL).lower()
    if value not in PROCESS_ROLES:
        raise ConfigError(f"PW_PROCESS_ROLE must be one of {', '.join(PROCESS_ROLES)}, got {value!r}")
    return value


def _is_sandbox(src: _Source) -> bool:
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


def _url(src: _Source, var: str, toml_key: str, default: str) -> str:
    value = src.text(var, toml_key, default) or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{var} ({toml_key}) must be an http(s) URL, got {value!r}")
    return value


def _optional_url(src: _Source, var: str) -> str | None:
    value = src.text(var, None, None)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{var} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _database_url(src: _Source) -> str | None:
    value = src.text("PW_DATABASE_URL", "partnerwatch.database_url", None)
    if value is None or not value.strip():
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ConfigError("PW_DATABASE_URL must be a postgresql:// URL (unset: the DuckDB file PW_DB_PATH)")
    return value.strip()


def _password(settings: Settings) -> str | None:
    """The database password in PW_DATABASE_URL, so that logs mask it."""
    if not settings.database_url:
        return None
    return urlsplit(settings.database_url).password


def _resolve(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _db_path(src: _Source, root: Path, data_dir: Path) -> Path:
    """PW_DB_PATH when set (relative to the repository root), else the database file in the data directory."""
    value = src.text("PW_DB_PATH", "partnerwatch.db_path", None)
    if value is None:
        return data_dir / DB_FILE
    return Path(":memory:") if value == ":memory:" else _resolve(root, value)


def _encryption_keys(src: _Source, sandbox: bool, data_dir: Path) -> tuple[tuple[str, ...], Path | None]:
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


def _api_token(src: _Source, sandbox: bool, data_dir: Path) -> str | None:
    configured = src.text("PW_API_TOKEN", "partnerwatch.api_token", None)
    if configured:
        if len(configured) < 16:
            raise ConfigError("PW_API_TOKEN (partnerwatch.api_token) must be at least 16 characters long")
        return configured
    return load_or_create_api_token(data_dir) if sandbox else None


# -- start-up check (live mode) ----------------------------------------------------------------------

AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
AUTH_CALLBACK_PATH = "/oauth2callback"  # Streamlit's own st.login callback route
MIN_COOKIE_SECRET = 32
_PLACEHOLDER = "replace-with"  # every example value in .streamlit/secrets.toml.example starts with it
_KEY_HINT = 'python -c "from core.security.crypto import SecretBox; print(SecretBox.generate_key())"'
_RANDOM_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def startup_problems(
    auth: Mapping[str, Any] | None,
    *,
    env: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
    root: Path | None = None,
) -> list[str]:
    """Every reason the app must not serve pages with this configuration, each naming what to set.

    `auth` is the `[auth]` section Streamlit's `st.login` reads (None when there is none). The sandbox needs
    nothing; the live mode needs sign-in, encryption keys and one consistent public URL. Either mode needs a
    process role a web app can have (`process_problems`).
    """
    root = Path(root) if root is not None else ROOT
    try:
        src = _source(env, secrets_file, root)
    except ConfigError as exc:
        return exc.problems
    live = src.get("PW_TIKTOK_APP_ID", "tiktok.app_id") or src.get("PW_TIKTOK_APP_SECRET", "tiktok.app_secret")
    settings: Settings | None = None
    try:
        settings = Settings.load(env=src.env, secrets_file=secrets_file, root=root)
    except ConfigError as exc:
        found = exc.problems
    else:
        found = process_problems(settings, ROLE_WEB)
    if not live:
        return found
    public_url = settings.public_url if settings else None
    return [*found, *(_live_problems(src, settings) if settings else []), *_auth_problems(auth, public_url)]


def process_problems(settings: Settings, command: str) -> list[str]:
    """Why this process must not start as `command` (ROLE_WEB: the Streamlit app, ROLE_WORKER: `python -m
    core.cli worker`) with its PW_PROCESS_ROLE. Splitting the roles over processes needs a shared database."""
    role, found = settings.process_role, []
    if role == ROLE_WORKER and command == ROLE_WEB:
        found.append(
            "PW_PROCESS_ROLE is worker: such a process runs `python -m core.cli worker`, not the web app "
            "(set PW_PROCESS_ROLE=web for a replica that serves the UI)"
        )
    if role == ROLE_WEB and command == ROLE_WORKER:
        found.append("PW_PROCESS_ROLE is web: a web replica runs no jobs; start the worker with PW_PROCESS_ROLE=worker")
    if role != ROLE_ALL and not settings.shared_database:
        found.append(
            f"PW_PROCESS_ROLE={role} needs PW_DATABASE_URL (a PostgreSQL database every process shares): the "
            f"DuckDB file {settings.db_path} is opened by one process only; leave PW_PROCESS_ROLE unset to run "
            "the UI and the background work in one process"
        )
    return found


def _live_problems(src: _Source, settings: Settings) -> list[str]:
    found: list[str] = []
    if src.get("PW_PUBLIC_URL", "partnerwatch.public_url") is None:
        found.append(
            "PW_PUBLIC_URL (partnerwatch.public_url) is not set: the address people open PartnerWatch "
            "at, e.g. https://partnerwatch.example.com (sign-in and TikTok redirect back to it)"
        )
    if not settings.encryption_keys:
        found.append(
            "PW_ENCRYPTION_KEYS (partnerwatch.encryption_keys) is not set: TikTok tokens are stored "
            f"encrypted; generate a key with {_KEY_HINT}"
        )
    expected = settings.public_url + CALLBACK_PATH
    if settings.redirect_uri != expected:
        found.append(
            f"PW_REDIRECT_URI (tiktok.redirect_uri) is {settings.redirect_uri} but this app's TikTok "
            f"callback is {expected} (PW_PUBLIC_URL + {CALLBACK_PATH}); register and set that one"
        )
    for label, value in (
        ("PW_TIKTOK_APP_SECRET (tiktok.app_secret)", settings.app_secret),
        ("PW_API_TOKEN (partnerwatch.api_token)", settings.api_token or ""),
        *(("PW_ENCRYPTION_KEYS (partnerwatch.encryption_keys)", k) for k in settings.encryption_keys),
    ):
        if value.startswith(_PLACEHOLDER):
            found.append(f"{label} is still the example value from secrets.toml.example")
    return found


def _auth_problems(auth: Mapping[str, Any] | None, public_url: str | None) -> list[str]:
    if not auth:
        return [
            "[auth] is missing from .streamlit/secrets.toml: sign-in (st.login) needs "
            f"{', '.join(AUTH_KEYS)} (see .streamlit/secrets.toml.example)"
        ]
    found = [
        f"auth.{key} is not set in .streamlit/secrets.toml (st.login needs it)"
        for key in AUTH_KEYS
        if not str(auth.get(key) or "").strip()
    ]
    secret = str(auth.get("cookie_secret") or "")
    if secret and (len(secret) < MIN_COOKIE_SECRET or secret.startswith(_PLACEHOLDER)):
        found.append(
            f"auth.cookie_secret must be at least {MIN_COOKIE_SECRET} random characters (not the "
            f"example value): generate one with {_RANDOM_HINT}"
        )
    if str(auth.get("client_secret") or "").startswith(_PLACEHOLDER):
        found.append("auth.client_secret is still the example value from secrets.toml.example")
    metadata = str(auth.get("server_metadata_url") or "")
    if metadata and not metadata.startswith(("http://", "https://")):
        found.append(f"auth.server_metadata_url must be an http(s) URL, got {metadata!r}")
    redirect = str(auth.get("redirect_uri") or "")
    if redirect and public_url and redirect.rstrip("/") != public_url + AUTH_CALLBACK_PATH:
        found.append(
            f"auth.redirect_uri is {redirect} but sign-in returns to {public_url}{AUTH_CALLBACK_PATH} "
            f"(PW_PUBLIC_URL + {AUTH_CALLBACK_PATH}); set it and register it with the identity provider"
        )
    return found


def format_problems(problems: list[str]) -> str:
    """The one message an operator reads: every problem on its own line."""
    lines = [f"PartnerWatch cannot start: {len(problems)} configuration problem(s).", *(f"  - {p}" for p in problems)]
    return "\n".join([*lines, "Fix them (environment or .streamlit/secrets.toml) and start again."])
