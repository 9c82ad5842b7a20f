"""Command line for cron and scripts: `python -m core.cli sync|export-members|rotate-key|migrate`.

    python -m core.cli sync [--partner BC_ID]
    python -m core.cli export-members --out FILE [--partner BC_ID ...] [--role ADMIN|STANDARD ...]
                                      [--status BOUND|PENDING|REJECTED|UNBOUND ...] [--flag FLAG ...]
                                      [--search TEXT] [--include-removed] [--sort COLUMN] [--desc]
    python -m core.cli rotate-key      (PW_ENCRYPTION_KEYS=NEW,OLD: re-encrypt every secret under NEW)
    python -m core.cli migrate

Exit codes: 0 ok, 1 failed, 2 bad usage.

DuckDB lets one process open the database file. When the app is running (its `/healthz` answers at
`settings.public_url`, or opening the file fails on its lock) the CLI works through the app's local API
(`/api/...`, `Authorization: Bearer <api token>`); otherwise it opens the store itself. The output is the
same either way, and never a lock error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

import duckdb
import httpx

from core import services as core_services
from core.config import ConfigError, Settings
from core.members import export, flags, queries
from core.members.queries import MemberFilter
from core.security import keys
from core.security.roles import SYSTEM_CLI
from core.store.database import Store
from core.sync import check_for_updates
from core.tasks import jobs
from core.tasks.jobs import TRIGGER_CLI

OK, FAILED, USAGE = 0, 1, 2
API_SYNC = "/api/sync"
API_ROTATE_KEY = "/api/keys/rotate"
API_TASK = "/api/tasks/{task_id}"
HEALTH = "/healthz"
POLL_INTERVAL_S = 0.5
TASK_TIMEOUT_S = 3600.0


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


class CliFailure(Exception):
    """The command ran and failed (exit code 1); the message says why."""


@dataclass(frozen=True)
class TaskReport:
    task_id: int
    status: str
    added: int
    updated: int
    removed: int
    error: str | None
    failed_jobs: list[str]

    @property
    def ok(self) -> bool:
        return self.status == jobs.COMPLETED

    def lines(self) -> list[str]:
        head = (f"Check for updates #{self.task_id}: {self.status} "
                f"({self.added} added, {self.updated} updated, {self.removed} removed)")
        tail = [f"  {line}" for line in self.failed_jobs]
        return [head, *([f"  {self.error}"] if self.error else []), *tail]

    def as_dict(self) -> dict[str, object]:
        return {"task_id": self.task_id, "status": self.status, "added": self.added, "updated": self.updated,
                "removed": self.removed, "error": self.error, "failed_jobs": self.failed_jobs}

    @classmethod
    def from_dict(cls, data: dict) -> TaskReport:
        return cls(int(data["task_id"]), str(data["status"]), int(data["added"]), int(data["updated"]),
                   int(data["removed"]), data.get("error"), list(data.get("failed_jobs") or []))


def task_report(store: Store, task_id: int) -> TaskReport:
    """A task's status, counts, error and its failed jobs (also served to a remote CLI)."""
    tasks = jobs.list_tasks(store, limit=10_000)
    row = tasks[tasks["id"] == task_id]
    if row.empty:
        raise CliFailure(f"Task #{task_id} does not exist.")
    task = row.iloc[0]
    job_rows = jobs.list_jobs(store, task_id)
    failed = [f"{j.target}: {j.error}" for j in job_rows.itertuples() if j.status == jobs.NOT_COMPLETED and j.error]
    return TaskReport(task_id, str(task["status"]), int(task["added"]), int(task["updated"]), int(task["removed"]),
                      None if task["error"] is None or task["error"] != task["error"] else str(task["error"]),
                      failed)


# -- backends ---------------------------------------------------------------------------------------


class Backend(Protocol):
    def sync(self, partner_bc_id: str | None) -> TaskReport: ...
    def export(self, f: MemberFilter, out: Path) -> int: ...
    def schema_version(self) -> int: ...
    def rotate_key(self) -> str: ...


class LocalBackend:
    """The CLI opens the database itself (the app is not running)."""

    def __init__(self, settings: Settings) -> None:
        self.services = core_services.build(settings)

    def sync(self, partner_bc_id: str | None) -> TaskReport:
        task_id = check_for_updates.request(
            self.services, actor=SYSTEM_CLI, trigger=TRIGGER_CLI, partner_bc_id=partner_bc_id
        )
        self.services.runner.wait(task_id, timeout=TASK_TIMEOUT_S)
        return task_report(self.services.store, task_id)

    def export(self, f: MemberFilter, out: Path) -> int:
        chunks = export.stream_members(self.services.store, f, actor=SYSTEM_CLI, via="command line")
        return _write_chunks(chunks, out)

    def schema_version(self) -> int:
        return self.services.store.schema_version()

    def rotate_key(self) -> str:
        try:
            return keys.rotate_all(self.services.store, self.services.box, SYSTEM_CLI).line()
        except keys.RotationError as exc:
            raise CliFailure(str(exc)) from exc

    def close(self) -> None:
        self.services.close()


class RemoteBackend:
    """The app is running: go through its authenticated local API."""

    def __init__(self, settings: Settings) -> None:
        if not settings.api_token:
            raise CliFailure("The app is running but no API token is configured (PW_API_TOKEN).")
        self.client = httpx.Client(base_url=settings.public_url, timeout=httpx.Timeout(30.0, read=300.0),
                                   headers={"Authorization": f"Bearer {settings.api_token}"})

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code in (401, 403):
            raise CliFailure("The running app refused the CLI's API token: check PW_API_TOKEN.")
        if response.status_code >= 400:
            raise CliFailure(f"The running app answered {response.status_code}: {response.text[:300]}")
        return response

    def sync(self, partner_bc_id: str | None) -> TaskReport:
        started = self._check(self.client.post(API_SYNC, json={"partner": partner_bc_id})).json()
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while True:
            report = TaskReport.from_dict(self._check(self.client.get(
                API_TASK.format(task_id=started["task_id"]))).json())
            if report.status not in jobs.ACTIVE or time.monotonic() > deadline:
                return report
            time.sleep(POLL_INTERVAL_S)

    def export(self, f: MemberFilter, out: Path) -> int:
        with self.client.stream("GET", export.EXPORT_PATH, params=f.to_query()) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            rows = _write_chunks(response.iter_bytes(), out)
        return rows

    def schema_version(self) -> int:
        return int(self._check(self.client.get(HEALTH)).json()["schema_version"])

    def rotate_key(self) -> str:
        return str(self._check(self.client.post(API_ROTATE_KEY)).json()["message"])

    def close(self) -> None:
        self.client.close()


def _write_chunks(chunks: Iterable[bytes], out: Path) -> int:
    """Write the CSV to `out` (via a temporary file, so a failed export leaves no half file); data rows."""
    partial = out.with_name(out.name + ".partial")
    newlines = 0
    try:
        with partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                newlines += chunk.count(b"\r\n")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return _data_rows(out) if newlines else 0


def _data_rows(path: Path) -> int:
    """Data rows of an export we wrote (quoted fields may hold line breaks, so parse it)."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


def app_running(settings: Settings, timeout: float = 1.0) -> bool:
    """Whether PartnerWatch answers on its public URL (then it holds the database)."""
    try:
        response = httpx.get(settings.public_url.rstrip("/") + HEALTH, timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json")


def open_backend(settings: Settings) -> LocalBackend | RemoteBackend:
    if app_running(settings):
        return RemoteBackend(settings)
    try:
        return LocalBackend(settings)
    except duckdb.IOException as exc:  # another process holds the file: the app, starting or unreachable
        if app_running(settings, timeout=5.0):
            return RemoteBackend(settings)
        raise CliFailure(f"The database {settings.db_path} is in use by another process and PartnerWatch does not "
                         f"answer at {settings.public_url}. Stop that process or set PW_PUBLIC_URL.") from exc


# -- commands ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core.cli", description="PartnerWatch from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("sync", help="Check for updates (all partners, or one)")
    run.add_argument("--partner", metavar="BC_ID", help="only this partner BC")
    out = commands.add_parser("export-members", help="export guest users as CSV (same filters as the page)")
    out.add_argument("--out", required=True, type=Path, metavar="FILE")
    out.add_argument("--partner", action="append", default=[], metavar="BC_ID")
    out.add_argument("--role", action="append", default=[], choices=list(queries.ROLES), type=str.upper)
    out.add_argument("--status", action="append", default=[], choices=list(queries.STATUSES), type=str.upper)
    out.add_argument("--flag", action="append", default=[], choices=[f.key for f in flags.FLAGS])
    out.add_argument("--search", default="")
    out.add_argument("--include-removed", action="store_true")
    out.add_argument("--sort", default="partner", choices=list(queries.SORTS))
    out.add_argument("--desc", action="store_true")
    commands.add_parser("rotate-key", help="re-encrypt every stored secret under the first key of "
                        "PW_ENCRYPTION_KEYS (NEW,OLD); all or nothing, safe to repeat")
    commands.add_parser("migrate", help="apply database migrations")
    return parser


def _filter(args: argparse.Namespace) -> MemberFilter:
    return MemberFilter(partners=tuple(args.partner), roles=tuple(args.role), statuses=tuple(args.status),
                        flags=tuple(args.flag), search=args.search, include_removed=args.include_removed,
                        sort=args.sort, descending=args.desc)


def _run(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command == "migrate" and not app_running(settings):
        store = Store(settings.db_path)  # opening applies what is missing
        try:
            print(f"Database {settings.db_path} is at schema version {store.schema_version()}.", file=out)
        finally:
            store.close()
        return OK
    backend = open_backend(settings)
    try:
        return _command(args, backend, settings, out)
    finally:
        backend.close()


def _command(args: argparse.Namespace, backend: LocalBackend | RemoteBackend, settings: Settings,
             out: TextIO) -> int:
    if args.command == "migrate":
        print(f"Database {settings.db_path} is at schema version {backend.schema_version()} "
              "(the running app applies migrations at start-up).", file=out)
        return OK
    if args.command == "rotate-key":
        print(backend.rotate_key(), file=out)
        return OK
    if args.command == "sync":
        report = backend.sync(args.partner)
        print("\n".join(report.lines()), file=out)
        return OK if report.ok else FAILED
    rows = backend.export(_filter(args), args.out)
    print(f"Exported {rows} guest users to {args.out}.", file=out)
    return OK


def main(argv: list[str] | None = None, *, settings: Settings | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        return _run(args, settings or Settings.load(), out)
    except UsageError as exc:
        print(str(exc), file=err)
        return USAGE
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=err)
        return USAGE
    except CliFailure as exc:
        print(str(exc), file=err)
        return FAILED
    except (httpx.HTTPError, OSError, duckdb.Error) as exc:
        print(f"Failed: {type(exc).__name__}: {exc}", file=err)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
