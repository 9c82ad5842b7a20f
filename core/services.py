"""Composition root: one `Services` per process, built from `Settings`.

The Streamlit shell, the routes, the CLI and the tests all reach the domain through this object, so the
process has exactly one DuckDB instance, one token bucket (the app-wide QPS) and one job runner (which claims
tasks unless the process role is `web`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from core.config.settings import Settings
from core.logging_setup import configure_logging
from core.security.crypto import SecretBox
from core.store.database import Store
from core.tasks.jobs import dialect, recover_interrupted
from core.tasks.runner import JobRunner
from core.tiktok.client import TikTokClient
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.transport import ClientConfig, RetryEvent

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    box: SecretBox
    limiter: TokenBucket
    runner: JobRunner
    generated_key: bool = False

    def client_config(self) -> ClientConfig:
        s = self.settings
        return ClientConfig(
            api_base_url=s.api_base_url, app_id=s.app_id, app_secret=s.app_secret, timeout_s=s.http_timeout_s
        )

    def client(self, *, on_retry: Callable[[RetryEvent], None] | None = None) -> TikTokClient:
        """A new async client (use it in one event loop, `async with`); all share the app's rate limit."""
        return TikTokClient(self.client_config(), self.limiter, on_retry=on_retry)

    def close(self, grace_s: float = 0.0) -> None:
        """Stop the runner (tasks still running after `grace_s` end Not completed), then close the store."""
        self.runner.shutdown(grace_s)
        self.store.close()


def build(settings: Settings, *, log_level: str | int = "INFO") -> Services:
    configure_logging(log_level)
    box = SecretBox(settings.encryption_keys)  # no key configured in live mode: refuses to start, says why
    store = Store(settings.store_target, memory_limit_mib=settings.duckdb_memory_mib, wait_s=settings.database_wait_s)
    if dialect(store) == "duckdb":  # one process on the file: what is active was left by a dead one
        interrupted = recover_interrupted(store)
        if interrupted:
            log.warning("%d task(s) left running by a stopped process are now Not completed", interrupted)
    return Services(
        settings=settings,
        store=store,
        box=box,
        limiter=TokenBucket(settings.qps),
        runner=JobRunner(store, lease_s=settings.task_lease_s, claims=settings.runs_jobs),
        generated_key=settings.sandbox_key_file is not None,
    )


_lock = threading.Lock()
_current: Services | None = None


def get() -> Services:
    """The process's services, built on first use from the environment and secrets.toml."""
    global _current
    with _lock:
        if _current is None:
            _current = build(Settings.load())
        return _current


def install(services: Services | None) -> None:
    """Replace the process's services (tests, the CLI); None forgets them."""
    global _current
    with _lock:
        _current = services
