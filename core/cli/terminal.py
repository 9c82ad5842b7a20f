"""Printing for the CLI: quiet on success, as cron expects."""

from __future__ import annotations

import time
from typing import TextIO

from core.cli.task_report import TaskReport


class Terminal:
    """Where messages go: stdout only with -v, stderr for what needs attention, a progress line on a tty."""

    def __init__(self, out: TextIO, err: TextIO, verbose: bool) -> None:
        self.out, self.err, self.verbose = out, err, verbose
        self.tty = _isatty(err)
        self.started = time.monotonic()
        self.shown = False

    def info(self, text: str) -> None:
        if self.verbose:
            print(text, file=self.out)

    def problem(self, text: str) -> None:
        self.clear()
        print(text, file=self.err)

    def progress(self, report: TaskReport) -> None:
        if self.tty:
            self.err.write(f"\r\x1b[K{report.progress_line(time.monotonic() - self.started)}")
            self.err.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self.shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
