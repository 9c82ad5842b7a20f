"""A throwaway PostgreSQL cluster in a temp dir, for the tests and the benchmarks.

`Cluster.start()` runs Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, or `PW_PG_BIN`): `initdb` into a fresh
temp dir, then `postgres` listening on 127.0.0.1 at a free port, with trust authentication for the `postgres`
role and durability off (fsync, synchronous commit): the data is thrown away. PostgreSQL refuses to run as root,
so a root caller (CI, these machines) runs both as the `postgres` system user, who owns the directory.

A watchdog process outlives nothing: when the process that started the cluster dies (even by SIGKILL), the
watchdog stops the server (immediate shutdown) and deletes the directory. `stop()` does the same at once;
`restart()` stops the server and starts it again on the same data and port (the fault tests).

`python -m tools.pgcluster` starts one, prints its URL and waits for Ctrl-C (for trying the app on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("PW_PG_BIN", "/usr/lib/postgresql/15/bin"))
SYSTEM_USER = "postgres"
START_TIMEOUT_S = 30.0

_WATCHDOG = """
import os, shutil, signal, sys, time
parent, server, directory = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
while alive(parent) and alive(server):
    time.sleep(0.5)
if alive(server):
    os.kill(server, signal.SIGQUIT)
    for _ in range(100):
        if not alive(server):
            break
        time.sleep(0.1)
shutil.rmtree(directory, ignore_errors=True)
"""


class ClusterError(RuntimeError):
    """PostgreSQL could not be started here (binaries missing, initdb or the server failed)."""


def available() -> bool:
    """Whether the PostgreSQL binaries are installed."""
    return (PG_BIN / "postgres").exists() and (PG_BIN / "initdb").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_user() -> dict[str, object]:
    """Popen arguments that drop root to the `postgres` system user (none when not root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Cluster:
    """One running PostgreSQL server; `url(db)` addresses its databases."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pw-pg-")))
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    watchdog: subprocess.Popen[bytes] | None = None
    # commits wait for their WAL write (synchronous_commit on), so an immediate shutdown (a crash of the server
    # process, not of the machine: fsync stays off) loses no committed transaction
    durable: bool = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> Cluster:
        if not available():
            raise ClusterError(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
        self._init()
        self._launch()
        return self

    def _init(self) -> None:
        drop = _as_user()
        if drop:
            os.chown(self.directory, int(str(drop["user"])), int(str(drop["group"])))
            self.directory.chmod(0o700)
        data = str(self.directory / "data")
        init = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
            capture_output=True,
            check=False,
            **drop,  # type: ignore[call-overload]
        )
        if init.returncode != 0:
            self._remove()
            raise ClusterError(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}")

    def _launch(self) -> None:
        """The server on the initialised directory (its log appended to), with its watchdog; returns once ready."""
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 (the server writes it until it stops)
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [
                str(PG_BIN / "postgres"),
                *("-D", str(self.directory / "data"), "-p", str(self.port), "-h", "127.0.0.1"),
                *("-k", str(self.directory)),
                *("-c", "fsync=off", "-c", f"synchronous_commit={'on' if self.durable else 'off'}"),
                *("-c", "full_page_writes=off"),
                *("-c", "max_connections=200", "-c", "shared_buffers=128MB", "-c", "dynamic_shared_memory_type=mmap"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **_as_user(),
        )
        log.close()
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(self.process.pid), str(self.directory)],
            start_new_session=True,
        )
        self._wait_ready()

    def restart(self, *, immediate: bool = False, down_s: float = 0.0) -> None:
        """Stop the server and start it again on the same port and data, as an operator's restart or a failover
        would: a fast shutdown (or, `immediate`, a crash-like one) ends every session and rolls back their open
        transactions; the server stays down `down_s` seconds."""
        self._halt(signal.SIGQUIT if immediate else signal.SIGINT)
        time.sleep(down_s)
        self._launch()

    def pause(self) -> None:
        """Stop the server (a fast shutdown) and leave it down, data and port kept, until `resume()`."""
        self._halt(signal.SIGINT)

    def resume(self) -> None:
        """Start the paused server again on the same port and data; returns once it accepts connections."""
        self._launch()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                ready = subprocess.run(
                    [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
                )
                if ready.returncode == 0:
                    return
            time.sleep(0.1)
        server_log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise ClusterError(f"PostgreSQL did not start on port {self.port}: {server_log}")

    def stop(self) -> None:
        """Immediate shutdown, then the directory is deleted."""
        self._halt(signal.SIGQUIT)
        self._remove()

    def _halt(self, sig: signal.Signals) -> None:
        """Stop the watchdog (which would delete the directory once the server is gone), then the server."""
        if self.watchdog is not None and self.watchdog.poll() is None:
            self.watchdog.kill()
            self.watchdog.wait()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    with Cluster() as cluster:
        print(cluster.url(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
