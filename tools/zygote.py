"""A pre-imported "zygote" that forks the test suite's `python -m MODULE …` and `python -c CODE …` children (issue 14).

The suite starts ~30 apps (`streamlit run streamlit_app.py`) and many benchmark and worker children, each paying
~2 CPU-s of imports (Streamlit, DuckDB, pyarrow, pandas, httpx, core, ui). `popen(argv, …)` instead asks one
long-lived helper per calling process, which has imported that stack (`PRELOAD`: imports only; nothing is run,
not streamlit_app.py, whose `check_or_exit` runs in the child as in a real start), to fork a child. The child
takes the request's environment, working directory and standard streams (the caller's file descriptors, passed
over a Unix socket; it stays in the caller's process group, as a Popen child does), then runs the module (with
`python -m`'s `sys.path[0]` and `sys.argv`), the script or the code as `__main__` and exits through the
interpreter's normal shutdown: signals, atexit handlers, Streamlit's lifespan and logs behave as in a subprocess.
The caller gets a `Forked`, a Popen-like handle; the zygote is the child's
parent, reaps it and reports its exit status when asked (so its CPU time reaches the caller with the zygote's).

The zygote forks only while it has one thread (checked at each fork against /proc): it is started with numpy's
BLAS pool at one thread and Arrow's jemalloc without its background thread, and a child keeps both (neither the
app nor the benchmarks' children use BLAS; jemalloc then purges on allocation instead of from a thread). A child
shares the zygote's hash seed (`random` is reseeded at fork by Python). Its `sys.stdout` is the zygote's, so it
is block-buffered even on a terminal.

Used when PW_TEST_ZYGOTE=1 (tests/conftest.py sets it; `PW_TEST_ZYGOTE=0 pytest …` runs plain subprocesses);
`make run` and `make bench` never set it. A test about what a cold process imports keeps a real subprocess.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
SWITCH = "PW_TEST_ZYGOTE"
# what `streamlit run streamlit_app.py` has imported when it answers /healthz (`python -X importtime`), less
# streamlit_app itself; plus what `python -m core.cli worker` and a benchmark child import on top
PRELOAD = (
    "streamlit",
    "streamlit.web.cli",
    "streamlit.web.bootstrap",
    "streamlit.web.server.starlette.starlette_agent_routes",
    "streamlit.web.server.app_discovery",
    "streamlit.components.v2.manifest_scanner",
    "streamlit.watcher.polling_path_watcher",
    "starlette.applications",
    "starlette.middleware.sessions",
    "starlette.staticfiles",
    "uvicorn",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.loops.asyncio",
    "websockets.server",
    "websockets.extensions.permessage_deflate",
    "core.store.database",
    "ui.api",
    "ui.routes",
    "ui.startup",
    "sandbox.server",
    "core.cli.run",
    "benchmarks.common",
    "benchmarks.curves",
)
_FORKED = False  # set in a zygote's children
_BASE_PATH: list[str] = []  # the zygote's sys.path after its own first entry and PYTHONPATH
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "JE_ARROW_MALLOC_CONF": "background_thread:false"}
_MESSAGE = 1 << 20
_Stream = int | IO[Any] | None


def enabled() -> bool:
    """PW_TEST_ZYGOTE=1, and not in a zygote's child (a zygote of its own would cost more than it saves there)."""
    return os.environ.get(SWITCH) == "1" and not _FORKED


def popen(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: _Stream = None,
    stdout: _Stream = None,
    stderr: _Stream = None,
    text: bool = False,
) -> subprocess.Popen[Any] | Forked:
    """`subprocess.Popen(argv, …)`, or when enabled and argv is `python -m …`, `-c …` or `script.py …`, forked."""
    command = _command(argv) if enabled() else None
    if command is None:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text)
    where = {"cwd": str(cwd or os.getcwd()), "env": dict(os.environ if env is None else env)}
    return _zygote().spawn(command | where, list(argv), (stdin, stdout, stderr), text)


def _command(argv: Sequence[str]) -> dict[str, Any] | None:
    if len(argv) < 2 or argv[0] != sys.executable:
        return None
    if argv[1] in ("-m", "-c") and len(argv) > 2:
        return {"kind": argv[1], "what": argv[2], "args": list(argv[3:])}
    return {"kind": "script", "what": argv[1], "args": list(argv[2:])} if argv[1].endswith(".py") else None


def run(
    argv: Sequence[str],
    *,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    **popen_args: Any,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` through `popen`."""
    if capture_output:
        popen_args |= {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = popen(argv, **popen_args)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    done = subprocess.CompletedProcess(list(argv), process.wait(), out, err)
    if check:
        done.check_returncode()
    return done


class Forked:
    """A zygote's child, with the part of `subprocess.Popen` the tests use."""

    def __init__(self, zygote: Zygote, pid: int, args: list[str], pipes: list[IO[Any] | None]) -> None:
        self._zygote, self.pid, self.args = zygote, pid, args
        self.stdin, self.stdout, self.stderr = pipes
        self.returncode: int | None = None
        self._read: dict[str, Any] = {}
        self._readers: list[threading.Thread] | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.status(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # a zombie until the zygote reaps it, so the pid is not reused meanwhile
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        if self._readers is None:
            if self.stdin is not None:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            streams = [(name, s) for name, s in (("out", self.stdout), ("err", self.stderr)) if s is not None]
            self._readers = [threading.Thread(target=self._drain, args=s, daemon=True) for s in streams]
            for reader in self._readers:
                reader.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._read.get("out"), self._read.get("err")

    def _drain(self, name: str, stream: IO[Any]) -> None:
        with stream:
            self._read[name] = stream.read()


class Zygote:
    """The caller's side: the helper process and the socket its requests go through (one at a time)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.zygote", str(theirs.fileno())],
            cwd=ROOT,
            env=os.environ | ONE_THREAD,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self._socket, self._lock = ours, threading.Lock()
        self._call({"op": "ready"})

    def spawn(self, command: dict[str, Any], argv: list[str], streams: tuple[_Stream, ...], text: bool) -> Forked:
        sent: list[int] = []
        ours: list[IO[Any] | None] = []
        close: list[int] = []
        for target, spec in enumerate(streams):
            fd, mine, temporary = _descriptor(target, spec, sent)
            sent.append(fd)
            close += [fd] if temporary else []
            mode = ("w" if target == 0 else "r") + ("" if text else "b")
            ours.append(None if mine is None else open(mine, mode))  # noqa: SIM115 (the caller's, as Popen's)
        request = {"op": "spawn", **command}
        try:
            pid = self._call(request, sent)
        finally:
            for fd in close:
                os.close(fd)
        return Forked(self, pid, argv, ours)

    def status(self, pid: int) -> int | None:
        code: int | None = self._call({"op": "status", "pid": pid})
        return code

    def close(self) -> None:
        self._socket.close()  # the zygote reaps its exited children and ends
        self.process.wait(timeout=60)

    def _call(self, request: dict[str, Any], fds: Sequence[int] = ()) -> Any:
        with self._lock:
            socket.send_fds(self._socket, [json.dumps(request).encode()], list(fds))
            reply = self._socket.recv(_MESSAGE)
        if not reply:
            raise RuntimeError(f"the zygote ended (exit {self.process.poll()})")
        answer = json.loads(reply)
        if isinstance(answer, dict):
            raise RuntimeError(answer["error"])
        return answer


def _descriptor(target: int, spec: _Stream, sent: list[int]) -> tuple[int, int | None, bool]:
    """For standard stream `target` (0, 1, 2) as Popen's argument `spec`: the descriptor to send, our end of a
    pipe (or None), and whether the sent descriptor is ours to close once sent."""
    if spec is None:
        return target, None, False  # inherited: this process's own
    if spec == subprocess.PIPE:
        read, write = os.pipe()
        return (read, write, True) if target == 0 else (write, read, True)
    if spec == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR), None, True
    if spec == subprocess.STDOUT:
        return sent[1], None, False
    return (spec, None, False) if isinstance(spec, int) else (spec.fileno(), None, False)


_ZYGOTE: Zygote | None = None
_STARTING = threading.Lock()


def _zygote() -> Zygote:
    global _ZYGOTE
    with _STARTING:
        if _ZYGOTE is None or _ZYGOTE.process.poll() is not None:
            _ZYGOTE = Zygote()
            atexit.register(_ZYGOTE.close)
        return _ZYGOTE


# -- the zygote process -----------------------------------------------------------------------------------


def _threads() -> list[str]:
    return sorted(os.listdir("/proc/self/task"))


def _serve(sock: socket.socket) -> dict[str, Any] | None:
    """Answer requests until the caller goes; in a forked child, return its request (the child runs it)."""
    for name in PRELOAD:
        importlib.import_module(name)
    exited: dict[int, int] = {}
    while True:
        data, fds, _flags, _address = socket.recv_fds(sock, _MESSAGE, 3)
        _reap(exited)
        if not data:
            return None
        request = json.loads(data)
        reply: Any = True
        if len(_threads()) > 1 or threading.active_count() > 1:
            reply = {"error": f"the zygote has {len(_threads())} threads after its imports: it cannot fork"}
        elif request["op"] == "status":
            reply = exited.get(request["pid"])
        elif request["op"] == "spawn":
            sys.stdout.flush()
            sys.stderr.flush()
            reply = os.fork()
            if reply == 0:
                sock.close()
                return request | {"fds": fds}
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps(reply).encode())


def _reap(exited: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exited[pid] = os.waitstatus_to_exitcode(status)


def _become(request: dict[str, Any]) -> None:
    """In the forked child: take the request's streams, directory and environment, and run it."""
    fds: list[int] = request["fds"]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    importlib.import_module("tools.zygote")._FORKED = True  # this is __main__, the module is another copy
    os.environ.clear()
    os.environ.update(request["env"])
    kind, what = request["kind"], request["what"]
    first = {"-m": os.getcwd(), "-c": "", "script": os.path.dirname(os.path.realpath(what))}[kind]
    sys.path[:] = [first, *_pythonpath(), *[p for p in _BASE_PATH if p != first]]  # as Python's start-up orders it
    if kind == "-m":
        sys.argv = [what, *request["args"]]  # runpy sets argv[0] to the module's file, as -m does
        for name in (what, f"{what}.__main__"):  # the module that -m runs is not imported beforehand
            if not hasattr(sys.modules.get(name), "__path__"):
                sys.modules.pop(name, None)
        runpy.run_module(what, run_name="__main__", alter_sys=True)
    elif kind == "script":
        sys.argv = [what, *request["args"]]
        runpy.run_path(what, run_name="__main__")
    else:
        sys.argv = ["-c", *request["args"]]
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        exec(compile(what, "<string>", "exec"), main.__dict__)  # noqa: S102 (python -c CODE)


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


if __name__ == "__main__":
    _BASE_PATH[:] = [p for p in sys.path[1:] if p not in _pythonpath()]
    child = _serve(socket.socket(fileno=int(sys.argv[1])))
    if child is not None:
        _become(child)  # exits as a process would: SystemExit, or the end of the module with atexit handlers
