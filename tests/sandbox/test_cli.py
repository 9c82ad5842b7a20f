"""The command line: arguments map onto SandboxConfig, and `python -m sandbox` serves the API and world."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sandbox.__main__ import config_from_args, parse_args

ROOT = Path(__file__).resolve().parents[2]


def test_arguments_map_onto_the_config() -> None:
    args = parse_args(
        [
            "--port",
            "9200",
            "--seed",
            "3",
            "--partners",
            "2",
            "--members",
            "5",
            "--qps",
            "4",
            "--qpm",
            "100",
            "--latency-ms",
            "25",
            "--app-id",
            "7100000000000000001",
            "--app-secret",
            "s3",
            "--redirect-uri",
            "http://a/cb",
            "--redirect-uri",
            "http://b/cb",
        ]
    )
    config = config_from_args(args)
    assert (args.port, args.host) == (9200, "127.0.0.1")
    assert (config.seed, config.partners, config.members, config.qps, config.qpm) == (3, 2, 5, 4, 100)
    assert (config.latency_ms, config.app_id, config.app_secret) == (25, "7100000000000000001", "s3")
    assert config.redirect_uris == ["http://a/cb", "http://b/cb"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_sandbox_serves(tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "sandbox.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(port),
            "--partners",
            "2",
            "--members",
            "5",
            "--redirect-uri",
            "http://localhost:8501/cb",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        world = _wait_for_world(f"http://127.0.0.1:{port}")
        assert len(world["partners"]) == 2
        assert world["app"]["redirect_uris"] == ["http://localhost:8501/cb"]
        answer = httpx.get(f"http://127.0.0.1:{port}/open_api/v1.3/bc/get/").json()
        assert answer["code"] == 40104
    finally:
        process.terminate()
        process.wait(10)
    assert "monitor@" in (tmp_path / "sandbox.log").read_text()


def _wait_for_world(base_url: str) -> dict:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(f"{base_url}/sandbox/world", timeout=2).json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
