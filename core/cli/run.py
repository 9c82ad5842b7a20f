"""The CLI's entry point: parse the command, run it (through the running app or with the database opened here)
and turn its outcome into an exit code and at most one line on stderr."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

import duckdb
import httpx

from core.cli import admin
from core.cli.backend import Backend, open_backend
from core.cli.csv_out import check_out
from core.cli.errors import FAILED, OK, USAGE, CliFailure, UsageError
from core.cli.parser import PROG, build_parser, member_filter
from core.cli.running_app import running_app_url
from core.cli.terminal import Terminal
from core.config.errors import ConfigError
from core.config.settings import Settings
from core.logging_setup import configure_logging
from core.store.database import StoreError


def main(
    argv: list[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; every message for a person is one line on stderr (or the summary with -v)."""
    term = Terminal(out or sys.stdout, err or sys.stderr, verbose=False)
    try:
        args = build_parser().parse_args(argv)
        term.verbose = bool(args.verbose)
        return _run(args, settings or Settings.load(), term)
    except UsageError as exc:
        term.problem(f"{PROG}: error: {exc}")
        return USAGE
    except ConfigError as exc:
        term.problem(f"Configuration error: {exc}")
        return USAGE
    except (CliFailure, StoreError) as exc:
        term.problem(str(exc))
        return FAILED
    except (httpx.HTTPError, OSError, duckdb.Error) as exc:
        term.problem(f"Failed: {type(exc).__name__}: {exc}")
        return FAILED


def _run(args: argparse.Namespace, settings: Settings, term: Terminal) -> int:
    if args.command == "worker":
        return admin.run_worker(settings, term)
    level = logging.INFO if term.verbose else logging.WARNING
    configure_logging(level)
    if args.command == "export-members":
        check_out(args.out)
    if args.command == "review" and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: not an existing folder")
    if args.command == "migrate-store":
        return admin.migrate_store(args, settings, term)
    if args.command == "migrate" and (settings.shared_database or running_app_url(settings) is None):
        return admin.migrate(settings, term)
    backend = open_backend(settings, level)
    try:
        return _command(args, backend, settings, term)
    finally:
        backend.close()


def _command(args: argparse.Namespace, backend: Backend, settings: Settings, term: Terminal) -> int:
    if args.command == "migrate":
        term.info(
            f"Database {settings.db_path} is at schema version {backend.schema_version()} "
            "(the running app applies migrations at start-up)."
        )
        return OK
    if args.command == "rotate-key":
        term.info(backend.rotate_key())
        return OK
    if args.command == "alerts":
        return _alerts(args, backend, term)
    if args.command == "sync":
        report = backend.sync(args.partner, term.progress)
        term.clear()
        if not report.ok:
            term.problem("\n".join(report.lines()))
            return FAILED
        term.info("\n".join(report.lines()))
        return OK
    if args.command == "review":
        csv_path, pdf_path = backend.review_report(args.campaign, args.out)
        term.info(f"Wrote {csv_path} and {pdf_path}.")
        return OK
    rows = backend.export(member_filter(args), args.out)
    term.info(f"Exported {rows} guest users to {args.out}.")
    return OK


def _alerts(args: argparse.Namespace, backend: Backend, term: Terminal) -> int:
    if args.alerts_command == "test":
        ok, answer = backend.alerts_test(args.channel)
        if not ok:
            raise CliFailure(answer)
        term.info(answer)
        return OK
    term.info(f"Queued {backend.retry_dead()} dead-letter alert delivery(ies) again.")
    return OK
