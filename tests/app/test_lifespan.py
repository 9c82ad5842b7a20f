"""The app's lifespan (ui/routes.py, what `make run` runs): a stop closes the store cleanly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import audit
from core import services as core_services
from core.services import Services
from core.store import StoreError
from ui.routes import lifespan


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The environment of `make run` in sandbox mode, with its data directory under tmp_path."""
    for var in (
        "PW_TIKTOK_APP_ID",
        "PW_TIKTOK_APP_SECRET",
        "PW_ENCRYPTION_KEYS",
        "PW_API_TOKEN",
        "PW_SANDBOX_EXTERNAL",
        "PW_SANDBOX_RESET",
    ):
        monkeypatch.delenv(var, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("PW_DATA_DIR", str(data))
    monkeypatch.setenv("PW_DB_PATH", str(data / "partnerwatch.duckdb"))
    monkeypatch.setenv("PW_PORT", str(free_port()))
    monkeypatch.setenv("PW_SANDBOX_PORT", str(free_port()))
    core_services.install(None)
    yield data
    core_services.install(None)


def run_app(body: Callable[[Services], None]) -> Services:
    """Start the app's lifespan, run `body` (in a thread) with the services it built, stop; returns them."""

    async def main() -> Services:
        async with lifespan(None):
            svc = await asyncio.to_thread(core_services.get)
            await asyncio.to_thread(body, svc)
        return svc

    return asyncio.run(main())


def test_stop_checkpoints_and_closes_the_store(app_env: Path) -> None:
    wal = app_env / "partnerwatch.duckdb.wal"

    def write(svc: Services) -> None:
        audit.record(svc.store, actor="t", action="test.write", target="x", outcome="ok")
        assert wal.stat().st_size > 0  # the write is in the WAL while the app runs

    svc = run_app(write)
    assert not wal.exists() or wal.stat().st_size == 0
    with pytest.raises(StoreError, match="closed"):
        svc.store.schema_version()
    assert core_services._current is None  # a later start builds fresh services
