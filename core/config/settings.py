"""Settings: environment variables and `.streamlit/secrets.toml` folded into one frozen dataclass.

The environment wins over the secrets file (sections `[tiktok]` and `[partnerwatch]`). When neither
names a TikTok app id nor secret the app runs in *sandbox mode*: the local emulator's app credentials and
base URLs are used, and an encryption key and a CLI API token are generated once under `data/`.
The table of fields lives in docs/ARCHITECTURE.md. Secrets never appear in `repr()`, and every secret
value is registered with the logging redaction filter as soon as it is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.config import fields
from core.config.errors import ConfigError, Problems
from core.config.fields import DB_FILE
from core.config.process_roles import ROLE_ALL, ROLE_WEB, read_process_role
from core.config.source import Source, load_source
from core.logging_setup import register_secret
from core.security.roles import RoleRules

ROOT = Path(__file__).resolve().parents[2]  # the repository root

SANDBOX_APP_ID = "7100000000000000000"
SANDBOX_APP_SECRET = "sandbox-secret"  # the emulator's published credentials, not a secret  # noqa: S105
LIVE_API_BASE = "https://business-api.tiktok.com/open_api/v1.3/"
LIVE_PORTAL_URL = "https://business-api.tiktok.com/portal/auth"
CALLBACK_PATH = "/api/oauth/tiktok/callback"
# DuckDB's memory limit (PW_DUCKDB_MEMORY_MIB): core.store.database.MEMORY_LIMIT_MIB, which the tests hold it to
DUCKDB_MEMORY_MIB = 112


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
        settings = _build(load_source(env, secrets_file, root), root)
        for secret in (settings.app_secret, settings.api_token, *settings.encryption_keys, _password(settings)):
            if secret:
                register_secret(secret)
        return settings


def _build(src: Source, root: Path) -> Settings:
    keep = Problems()
    sandbox = keep(lambda: fields.is_sandbox(src), False)
    port = keep(lambda: src.number("PW_PORT", None, 8501, int, low=1, high=65535), 8501)
    sandbox_port = keep(lambda: src.number("PW_SANDBOX_PORT", None, 9100, int, low=1, high=65535), 9100)
    public_url = keep(
        lambda: fields.url(src, "PW_PUBLIC_URL", "partnerwatch.public_url", f"http://localhost:{port}"),
        f"http://localhost:{port}",
    ).rstrip("/")
    emulator = f"http://127.0.0.1:{sandbox_port}"
    data_dir = fields.resolve(
        root, keep(lambda: src.text("PW_DATA_DIR", "partnerwatch.data_dir", "data"), "data") or "data"
    )
    keys, key_file = keep(lambda: fields.encryption_keys(src, sandbox, data_dir), ((), None))
    settings = Settings(
        app_id=keep(lambda: src.text("PW_TIKTOK_APP_ID", "tiktok.app_id", SANDBOX_APP_ID), "") or SANDBOX_APP_ID,
        app_secret=keep(lambda: src.text("PW_TIKTOK_APP_SECRET", "tiktok.app_secret", SANDBOX_APP_SECRET), "") or "",
        api_base_url=keep(
            lambda: fields.url(
                src,
                "PW_TIKTOK_API_BASE",
                "tiktok.api_base_url",
                f"{emulator}/open_api/v1.3/" if sandbox else LIVE_API_BASE,
            ),
            "",
        ),
        portal_auth_url=keep(
            lambda: fields.url(
                src,
                "PW_TIKTOK_PORTAL_URL",
                "tiktok.portal_auth_url",
                f"{emulator}/portal/auth" if sandbox else LIVE_PORTAL_URL,
            ),
            "",
        ),
        redirect_uri=keep(
            lambda: fields.url(src, "PW_REDIRECT_URI", "tiktok.redirect_uri", public_url + CALLBACK_PATH), ""
        ),
        db_path=keep(lambda: fields.db_path(src, root, data_dir), data_dir / DB_FILE),
        encryption_keys=keys,
        qps=keep(lambda: src.number("PW_QPS", "partnerwatch.qps", 10.0, float, low=0.01, high=10_000), 10.0),
        http_timeout_s=keep(
            lambda: src.number("PW_HTTP_TIMEOUT", "partnerwatch.http_timeout_s", 20.0, float, low=0.1, high=3600), 20.0
        ),
        port=port,
        sandbox_port=sandbox_port,
        sandbox_seed=keep(lambda: src.number("PW_SANDBOX_SEED", None, 7, int, low=-(2**63), high=2**63 - 1), 7),
        api_token=keep(lambda: fields.api_token(src, sandbox, data_dir), None),
        data_dir=data_dir,
        sandbox=sandbox,
        public_url=public_url,
        sandbox_key_file=key_file,
        roles=keep(lambda: fields.role_rules(src), RoleRules()),
        app_url=keep(lambda: fields.optional_url(src, "PW_APP_URL"), None),
        alerts_allow=keep(lambda: fields.host_list(src, "PW_ALERTS_ALLOW", "partnerwatch.alerts_allow"), ()),
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
        process_role=keep(lambda: read_process_role(src), ROLE_ALL),
        database_url=keep(lambda: fields.database_url(src), None),
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


def _password(settings: Settings) -> str | None:
    """The database password in PW_DATABASE_URL, so that logs mask it."""
    if not settings.database_url:
        return None
    return urlsplit(settings.database_url).password
