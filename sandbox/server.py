"""SandboxServer: the sandbox served by uvicorn in a daemon thread (for the app's lifespan and tests).

with SandboxServer(SandboxConfig(redirect_uris=[...])) as sandbox:
    httpx.get(sandbox.api_base_url + "bc/get/", headers={"Access-Token": sandbox.world.issue_token(...)})
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from sandbox.app import create_app
from sandbox.config import SandboxConfig
from sandbox.state import SandboxState, world_from_config

__all__ = ["SandboxConfig", "SandboxServer"]


class SandboxServer:
    """One sandbox on `host:port` (port 0 picks a free port); `start()` returns once it is listening."""

    def __init__(self, config: SandboxConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.world = world_from_config(config)
        self.app = create_app(self.world, config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SandboxState:
        state: SandboxState = self.app.state.sandbox  # Starlette's app.state is untyped
        return state

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return self.base_url + "/open_api/v1.3/"

    @property
    def portal_auth_url(self) -> str:
        return self.base_url + "/portal/auth"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Binds the socket, serves in a daemon thread, waits until uvicorn is ready."""
        # With proto IPPROTO_TCP (not 0) asyncio sets TCP_NODELAY on accepted connections; without it every
        # keep-alive request waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Asks uvicorn to exit and waits for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server, self._thread = None, None

    def reset(self) -> None:
        """World back to its seeded state; faults, tokens, sessions, codes, limits and latency reset."""
        self.state.reset()

    def __enter__(self) -> SandboxServer:
        return self.start() if self._server is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
