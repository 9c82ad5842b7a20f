"""The commands that open the database themselves, never through a running app: `migrate` (when no app holds
the database, or on a shared one), `migrate-store` and `worker`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from core import services as core_services
from core import worker
from core.cli.errors import OK, USAGE, CliFailure, UsageError
from core.cli.terminal import Terminal
from core.config.process_roles import ROLE_WORKER, process_problems
from core.config.settings import Settings
from core.config.startup import format_problems
from core.logging_setup import register_secret
from core.store import transfer
from core.store.database import Store, is_database_url


def migrate(settings: Settings, term: Terminal) -> int:
    """Open the store, which applies the migrations it is missing."""
    store = Store(settings.store_target, wait_s=settings.database_wait_s)
    try:
        term.info(f"Database {store} is at schema version {store.schema_version()}.")
    finally:
        store.close()
    return OK


def migrate_store(args: argparse.Namespace, settings: Settings, term: Terminal) -> int:
    """Copy the DuckDB file into PostgreSQL (core/store/transfer.py); the app must not hold the file."""
    if not is_database_url(args.to):
        raise UsageError("--to must be a PostgreSQL URL (postgresql://user:password@host:port/database)")
    source = args.source or settings.db_path
    if not Path(source).is_file():
        raise UsageError(f"--from {source}: no such DuckDB file")
    register_secret(urlsplit(args.to).password)
    try:
        done = transfer.copy_store(source, args.to, replace=args.replace)
    except duckdb.IOException as exc:
        raise CliFailure(f"The database {source} is in use by another process (the app?): stop it first.") from exc
    term.info(
        f"Copied {done.rows} rows in {len(done.tables)} tables from {source} into the PostgreSQL database; "
        "set PW_DATABASE_URL to use it."
    )
    return OK


def run_worker(settings: Settings, term: Terminal) -> int:
    """The worker process (logs at INFO); refuses a role that is not its own or a database it cannot share."""
    problems = process_problems(settings, ROLE_WORKER)
    if problems:
        term.problem(format_problems(problems))
        return USAGE
    try:
        svc = core_services.build(settings, log_level=logging.INFO)
    except duckdb.IOException as exc:
        raise CliFailure(
            f"The database {settings.db_path} is in use by another process (the app?): a DuckDB file is opened by "
            "one process only. Run the worker beside the app with PW_DATABASE_URL and PW_PROCESS_ROLE=worker, "
            "or stop the other process."
        ) from exc
    core_services.install(svc)
    try:
        worker.run_worker(svc)
    finally:
        core_services.install(None)
    return OK
