"""What a process runs (PW_PROCESS_ROLE): the UI and routes, the background work, or both (one process, the
default), and whether a process may start as the web app or the worker with its role and database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.config.errors import ConfigError
from core.config.source import Source

if TYPE_CHECKING:
    from core.config.settings import Settings

ROLE_ALL, ROLE_WEB, ROLE_WORKER = "all", "web", "worker"
PROCESS_ROLES = (ROLE_ALL, ROLE_WEB, ROLE_WORKER)


def read_process_role(src: Source) -> str:
    value = (src.text("PW_PROCESS_ROLE", None, ROLE_ALL) or ROLE_ALL).lower()
    if value not in PROCESS_ROLES:
        raise ConfigError(f"PW_PROCESS_ROLE must be one of {', '.join(PROCESS_ROLES)}, got {value!r}")
    return value


def process_problems(settings: Settings, command: str) -> list[str]:
    """Why this process must not start as `command` (ROLE_WEB: the Streamlit app, ROLE_WORKER: `python -m
    core.cli worker`) with its PW_PROCESS_ROLE. Splitting the roles over processes needs a shared database."""
    role, found = settings.process_role, []
    if role == ROLE_WORKER and command == ROLE_WEB:
        found.append(
            "PW_PROCESS_ROLE is worker: such a process runs `python -m core.cli worker`, not the web app "
            "(set PW_PROCESS_ROLE=web for a replica that serves the UI)"
        )
    if role == ROLE_WEB and command == ROLE_WORKER:
        found.append("PW_PROCESS_ROLE is web: a web replica runs no jobs; start the worker with PW_PROCESS_ROLE=worker")
    if role != ROLE_ALL and not settings.shared_database:
        found.append(
            f"PW_PROCESS_ROLE={role} needs PW_DATABASE_URL (a PostgreSQL database every process shares): the "
            f"DuckDB file {settings.db_path} is opened by one process only; leave PW_PROCESS_ROLE unset to run "
            "the UI and the background work in one process"
        )
    return found
