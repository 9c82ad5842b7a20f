"""Which way a command runs: through the running app's API when it answers (it holds the database), else with
the database opened here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import duckdb

from core.cli.errors import CliFailure
from core.cli.local import LocalBackend
from core.cli.remote import RemoteBackend
from core.cli.running_app import app_urls, running_app_url
from core.cli.task_report import Progress, TaskReport
from core.config.settings import Settings
from core.members.filters import MemberFilter


class Backend(Protocol):
    def sync(self, partner_bc_id: str | None, on_progress: Progress) -> TaskReport: ...
    def export(self, f: MemberFilter, out: Path) -> int: ...
    def schema_version(self) -> int: ...
    def rotate_key(self) -> str: ...
    def review_report(self, campaign_id: int, out_dir: Path) -> tuple[Path, Path]: ...
    def alerts_test(self, channel: str) -> tuple[bool, str]: ...
    def retry_dead(self) -> int: ...
    def close(self) -> None: ...


def open_backend(settings: Settings, log_level: int = logging.WARNING) -> Backend:
    url = running_app_url(settings)
    if url:
        return RemoteBackend(settings, url)
    try:
        return LocalBackend(settings, log_level)
    except duckdb.IOException as exc:  # another process holds the file: the app, starting or unreachable
        url = running_app_url(settings, timeout=5.0)
        if url:
            return RemoteBackend(settings, url)
        tried = ", ".join(app_urls(settings))
        raise CliFailure(
            f"The database {settings.db_path} is in use by another process and PartnerWatch does not "
            f"answer at {tried}. If the app runs at another address, set PW_APP_URL (e.g. "
            f"PW_APP_URL=http://127.0.0.1:8502); otherwise stop that process."
        ) from exc
