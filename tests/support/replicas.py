"""Processes of a multi-replica deployment on one database (issue 18): the `python -m core.cli worker` process
(PW_PROCESS_ROLE=worker) next to the web replicas that `tests.support.browser.start_app` starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT
from tests.support.browser import stop_process
from tools import zygote


@dataclass
class Worker:
    process: subprocess.Popen | zygote.Forked
    log_path: Path
    name: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(tmp: Path, env: dict[str, str]) -> Worker:
    """`python -m core.cli worker`; returns once it logs that it started, with the runner name it claims as."""
    log_path = tmp / "worker.log"
    process = zygote.popen(
        [sys.executable, "-m", "core.cli", "worker"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PW_")} | env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    worker = Worker(process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        started = re.search(r"Worker (\S+) started \(role worker\)", worker.log())
        if started:
            worker.name = started.group(1)
            return worker
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the worker did not start within 60 s:\n{worker.log()}")


def stop_worker(worker: Worker) -> None:
    stop_process(worker.process, timeout=30)
