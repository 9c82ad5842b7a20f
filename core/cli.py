"""Command line for cron and scripts: `python -m core.cli sync|export-members|rotate-key|migrate`.

    python -m core.cli [-v] sync [--partner BC_ID]
    python -m core.cli export-members --out FILE [--partner BC_ID ...] [--role ADMIN|STANDARD ...]
                                      [--status BOUND|PENDING|REJECTED|UNBOUND ...] [--flag FLAG ...]
                                      [--search TEXT] [--include-removed] [--sort COLUMN] [--desc]
    python -m core.cli rotate-key      (PW_ENCRYPTION_KEYS=NEW,OLD: re-encrypt every secret under NEW)
    python -m core.cli migrate
    python -m core.cli review report --campaign ID --out DIR   (the attestation CSV and PDF of a signed-off review)
    python -m core.cli alerts test --channel NAME   (send a test message; the receiver's answer on stderr)
    python -m core.cli alerts retry-dead            (queue every dead-letter alert delivery again)
    python -m core.cli worker   (run Check for updates tasks, the daily schedule, housekeeping and alerts until
                                 SIGTERM; PW_PROCESS_ROLE=worker beside web replicas on a shared database)

Exit codes: 0 ok, 1 failed, 2 bad usage (one line on stderr: an unknown option, a partner that does not
exist, an output file that cannot be written). Quiet on success, as cron expects: only warnings and errors
are printed, `-v` adds the summary and informational logs; on a terminal a sync shows a progress line.

DuckDB lets one process open the database file. When the app is running (its `/healthz` answers at
PW_APP_URL, else at the URL the app writes to `data/app.url` while it runs, else at `settings.public_url`)
the CLI works through the app's local API (`/api/...`, `Authorization: Bearer <api token>`); otherwise it
opens the store itself. The output is the same either way, and never a lock error.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol, TextIO
from urllib.parse import urlsplit

import duckdb
import httpx

from core import services as core_services
from core import worker
from core.accounts import partners
from core.alerts import dispatcher, outbox
from core.config import ROLE_WORKER, ConfigError, Settings, format_problems, process_problems
from core.logging_setup import configure_logging, register_secret
from core.members import export, filters, flags
from core.members.filters import MemberFilter
from core.reviews import campaigns, report
from core.reviews.errors import ReviewError
from core.security import keys
from core.security.roles import SYSTEM_CLI
from core.store import transfer
from core.store.database import Store, StoreError, is_database_url
from core.sync import check_for_updates
from core.tasks import jobs
from core.tasks.jobs import TRIGGER_CLI
from core.tiktok import labels

OK, FAILED, USAGE = 0, 1, 2
API_SYNC = "/api/sync"
API_ROTATE_KEY = "/api/keys/rotate"
API_ALERTS_TEST = "/api/alerts/test"
API_ALERTS_RETRY_DEAD = "/api/alerts/retry-dead"
API_TASK = "/api/tasks/{task_id}"
API_REVIEW_REPORT = "/api/reviews/{campaign_id}/report.{kind}"  # kind: csv | pdf
SHA256_HEADER = "X-PartnerWatch-SHA256"
HEALTH = "/healthz"
POLL_INTERVAL_S = 0.5
TASK_TIMEOUT_S = 3600.0
PROG = "python -m core.cli"
APP_URL_FILE = "app.url"  # written by the running app under its data directory (ui/routes.py lifespan)


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
    progress_done: int = 0
    progress_total: int = 0

    @property
    def ok(self) -> bool:
        return self.status == jobs.COMPLETED

    def lines(self) -> list[str]:
        head = (
            f"Check for updates #{self.task_id}: {self.status} "
            f"({self.added} added, {self.updated} updated, {self.removed} removed)"
        )
        tail = [f"  {line}" for line in self.failed_jobs]
        return [head, *([f"  {self.error}"] if self.error else []), *tail]

    def progress_line(self, elapsed_s: float) -> str:
        done = f", {self.progress_done} of {self.progress_total}" if self.progress_total else ""
        return f"Check for updates #{self.task_id}: {self.status}{done} ({elapsed_s:.0f} s)"

    def as_dict(self) -> dict[str, object]:
        return {
            "task_id": self.task_id,
            "status": self.status,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "error": self.error,
            "failed_jobs": self.failed_jobs,
            "progress_done": self.progress_done,
            "progress_total": self.progress_total,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskReport:
        return cls(
            int(data["task_id"]),
            str(data["status"]),
            int(data["added"]),
            int(data["updated"]),
            int(data["removed"]),
            data.get("error"),
            list(data.get("failed_jobs") or []),
            int(data.get("progress_done") or 0),
            int(data.get("progress_total") or 0),
        )


def task_report(store: Store, task_id: int) -> TaskReport:
    """A task's status, counts, error and its failed jobs (also served to a remote CLI)."""
    tasks = jobs.list_tasks(store, limit=10_000)
    row = tasks[tasks["id"] == task_id]
    if row.empty:
        raise CliFailure(f"Task #{task_id} does not exist.")
    task = row.iloc[0]
    job_rows = jobs.list_jobs(store, task_id)
    failed = [f"{j.target}: {j.error!s}" for j in job_rows.itertuples() if j.status == jobs.NOT_COMPLETED and j.error]
    return TaskReport(
        task_id,
        str(task["status"]),
        int(task["added"]),
        int(task["updated"]),
        int(task["removed"]),
        None if task["error"] is None or task["error"] != task["error"] else str(task["error"]),
        failed,
        _count(task["progress_done"]),
        _count(task["progress_total"]),
    )


def _count(value: object) -> int:
    return 0 if value is None or value != value else int(value)  # type: ignore[call-overload]


def check_partners(store: Store, bc_ids: Iterable[str]) -> None:
    """A bad --partner is a usage error (exit 2), not an empty export or a failed task."""
    for bc_id in bc_ids:
        if partners.get(store, bc_id) is None:
            raise UsageError(
                f"--partner {bc_id}: no partner with this BC id (the Partners page lists them; "
                f"`{PROG} sync` refreshes the list)"
            )


Progress = Callable[[TaskReport], None]


def follow(report: Callable[[], TaskReport], wait: Callable[[], None], on_progress: Progress) -> TaskReport:
    """Poll a task until it ends (or TASK_TIMEOUT_S), telling `on_progress` while it is active."""
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while True:
        current = report()
        if current.status not in jobs.ACTIVE or time.monotonic() > deadline:
            return current
        on_progress(current)
        wait()


# -- backends ---------------------------------------------------------------------------------------


class Backend(Protocol):
    def sync(self, partner_bc_id: str | None, on_progress: Progress) -> TaskReport: ...
    def export(self, f: MemberFilter, out: Path) -> int: ...
    def schema_version(self) -> int: ...
    def rotate_key(self) -> str: ...
    def review_report(self, campaign_id: int, out_dir: Path) -> tuple[Path, Path]: ...
    def alerts_test(self, channel: str) -> tuple[bool, str]: ...
    def retry_dead(self) -> int: ...
    def close(self) -> None: ...


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """The chunks as they come, fed to `digest` on the way."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def check_campaign(store: Store, campaign_id: int) -> None:
    """UsageError unless the access review exists."""
    try:
        campaigns.get(store, SYSTEM_CLI, campaign_id)
    except ReviewError as exc:
        raise UsageError(f"--campaign {campaign_id}: {exc}") from exc


class LocalBackend:
    """The CLI opens the database itself (the app is not running)."""

    def __init__(self, settings: Settings, log_level: int = logging.WARNING) -> None:
        self.services = core_services.build(settings, log_level=log_level)

    def sync(self, partner_bc_id: str | None, on_progress: Progress) -> TaskReport:
        if partner_bc_id is not None:
            check_partners(self.services.store, [partner_bc_id])
        task_id = check_for_updates.request(
            self.services, actor=SYSTEM_CLI, trigger=TRIGGER_CLI, partner_bc_id=partner_bc_id
        )

        def wait() -> None:
            with contextlib.suppress(TimeoutError):  # not finished yet: report progress and wait again
                self.services.runner.wait(task_id, timeout=POLL_INTERVAL_S)

        return follow(lambda: task_report(self.services.store, task_id), wait, on_progress)

    def export(self, f: MemberFilter, out: Path) -> int:
        check_partners(self.services.store, f.partners)
        chunks = export.stream_members(self.services.store, f, actor=SYSTEM_CLI, via="command line")
        return _write_chunks(chunks, out)

    def schema_version(self) -> int:
        return self.services.store.schema_version()

    def rotate_key(self) -> str:
        try:
            return keys.rotate_all(self.services.store, self.services.box, SYSTEM_CLI).line()
        except keys.RotationError as exc:
            raise CliFailure(str(exc)) from exc

    def review_report(self, campaign_id: int, out_dir: Path) -> tuple[Path, Path]:
        check_campaign(self.services.store, campaign_id)
        try:
            return report.write_files(self.services.store, SYSTEM_CLI, campaign_id, out_dir)
        except ReviewError as exc:
            raise CliFailure(str(exc)) from exc

    def alerts_test(self, channel: str) -> tuple[bool, str]:
        return alerts_test(self.services, channel)

    def retry_dead(self) -> int:
        count = outbox.retry(self.services.store, SYSTEM_CLI)
        dispatcher.run_once(self.services)  # the app is not running: one dispatcher pass sends what is due now
        return count

    def close(self) -> None:
        self.services.close()


class RemoteBackend:
    """The app is running: go through its authenticated local API."""

    def __init__(self, settings: Settings, base_url: str) -> None:
        if not settings.api_token:
            raise CliFailure("The app is running but no API token is configured (PW_API_TOKEN).")
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(30.0, read=300.0),
            headers={"Authorization": f"Bearer {settings.api_token}"},
        )

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code in (401, 403):
            raise CliFailure("The running app refused the CLI's API token: check PW_API_TOKEN.")
        if response.status_code == 400:
            raise UsageError(response.text.strip())
        if response.status_code >= 400:
            raise CliFailure(f"The running app answered {response.status_code}: {response.text[:300]}")
        return response

    def sync(self, partner_bc_id: str | None, on_progress: Progress) -> TaskReport:
        started = self._check(self.client.post(API_SYNC, json={"partner": partner_bc_id})).json()
        path = API_TASK.format(task_id=started["task_id"])
        return follow(
            lambda: TaskReport.from_dict(self._check(self.client.get(path)).json()),
            lambda: time.sleep(POLL_INTERVAL_S),
            on_progress,
        )

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

    def review_report(self, campaign_id: int, out_dir: Path) -> tuple[Path, Path]:
        csv_name, pdf_name = report.file_names(campaign_id)
        pdf = self._check(self.client.get(API_REVIEW_REPORT.format(campaign_id=campaign_id, kind="pdf"))).content
        path = API_REVIEW_REPORT.format(campaign_id=campaign_id, kind="csv")
        with self.client.stream("GET", path) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            expected = response.headers.get(SHA256_HEADER, "")
            digest = hashlib.sha256()
            _write_chunks(_hashed(response.iter_bytes(), digest), out_dir / csv_name)
        if digest.hexdigest() != expected:
            (out_dir / csv_name).unlink(missing_ok=True)
            raise CliFailure(f"The report CSV of access review #{campaign_id} did not match its SHA-256 {expected}.")
        (out_dir / pdf_name).write_bytes(pdf)
        return out_dir / csv_name, out_dir / pdf_name

    def alerts_test(self, channel: str) -> tuple[bool, str]:
        answer = self._check(self.client.post(API_ALERTS_TEST, json={"channel": channel})).json()
        return bool(answer["ok"]), str(answer["answer"])

    def retry_dead(self) -> int:
        return int(self._check(self.client.post(API_ALERTS_RETRY_DEAD)).json()["count"])

    def close(self) -> None:
        self.client.close()


def alerts_test(services: core_services.Services, channel: str) -> tuple[bool, str]:
    """Send a channel's test message (CLI and its API route); UsageError for an unknown channel."""
    from core.alerts import channels

    if channels.by_name(services.store, channel) is None:
        raise UsageError(f"--channel {channel}: there is no alert channel of that name")
    result = dispatcher.send_test(services, SYSTEM_CLI, channel)
    return result.ok, f"{channel}: the receiver answered {result.answer}"


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


def record_app_url(data_dir: Path, url: str) -> Path:
    """The running app says where it listens, so the CLI finds it whatever port it was given."""
    path = Path(data_dir) / APP_URL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n", encoding="utf-8")
    return path


def forget_app_url(data_dir: Path, url: str) -> None:
    """On stop: remove the file if it still names this app (another instance may have replaced it)."""
    path = Path(data_dir) / APP_URL_FILE
    with contextlib.suppress(FileNotFoundError):
        if path.read_text(encoding="utf-8").strip() == url:
            path.unlink()


def app_urls(settings: Settings) -> list[str]:
    """Where the running app may answer: PW_APP_URL alone when set, else data/app.url, then the public URL."""
    if settings.app_url:
        return [settings.app_url]
    try:
        recorded = (settings.data_dir / APP_URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        recorded = ""
    return list(dict.fromkeys(url.rstrip("/") for url in (recorded, settings.public_url) if url))


def running_app_url(settings: Settings, timeout: float = 1.0) -> str | None:
    """The first of `app_urls` where PartnerWatch answers (then it holds the database), or None."""
    for url in app_urls(settings):
        try:
            response = httpx.get(url + HEALTH, timeout=timeout)
        except httpx.HTTPError:
            continue
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            return url
    return None


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


# -- commands ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class _Terminal:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="PartnerWatch from the command line. Quiet on success.")
    verbose = _Parser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the summary and informational logs (default: warnings and errors only)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=False, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("sync", parents=[verbose], help="Check for updates (all partners, or one)")
    run.add_argument("--partner", metavar="BC_ID", help="only this partner BC")
    out = commands.add_parser(
        "export-members", parents=[verbose], help="export guest users as CSV (same filters as the page)"
    )
    out.add_argument("--out", required=True, type=Path, metavar="FILE")
    out.add_argument("--partner", action="append", default=[], metavar="BC_ID")
    out.add_argument("--role", action="append", default=[], choices=list(labels.ROLES), type=str.upper)
    out.add_argument("--status", action="append", default=[], choices=list(labels.STATUSES), type=str.upper)
    out.add_argument("--flag", action="append", default=[], choices=[f.key for f in flags.FLAGS])
    out.add_argument("--search", default="")
    out.add_argument("--include-removed", action="store_true")
    out.add_argument("--sort", default="partner", choices=list(filters.SORTS))
    out.add_argument("--desc", action="store_true")
    commands.add_parser(
        "rotate-key",
        parents=[verbose],
        help="re-encrypt every stored secret under the first "
        "key of PW_ENCRYPTION_KEYS (NEW,OLD); all or nothing, safe to repeat",
    )
    commands.add_parser("migrate", parents=[verbose], help="apply database migrations")
    review = commands.add_parser("review", parents=[verbose], help="access reviews")
    actions = review.add_subparsers(dest="review_command", required=True, parser_class=_Parser)
    made = actions.add_parser(
        "report", parents=[verbose], help="write the attestation CSV and PDF of a signed-off access review"
    )
    made.add_argument("--campaign", required=True, type=int, metavar="ID")
    made.add_argument("--out", required=True, type=Path, metavar="DIR")
    alerts = commands.add_parser("alerts", help="alert channels and deliveries").add_subparsers(
        dest="alerts_command", required=True, parser_class=_Parser
    )
    test = alerts.add_parser("test", parents=[verbose], help="send a test message to a channel")
    test.add_argument("--channel", required=True, metavar="NAME")
    alerts.add_parser("retry-dead", parents=[verbose], help="queue every dead-letter delivery again")
    move = commands.add_parser(
        "migrate-store",
        parents=[verbose],
        help="copy the DuckDB file into a PostgreSQL database (one transaction, row counts verified)",
    )
    move.add_argument("--to", required=True, metavar="postgresql://…", help="the target database (empty)")
    move.add_argument("--from", dest="source", type=Path, metavar="FILE", help="the DuckDB file (default: PW_DB_PATH)")
    move.add_argument("--replace", action="store_true", help="empty a target that already holds data first")
    commands.add_parser(
        "worker",
        parents=[verbose],
        help="run Check for updates tasks, the daily schedule, housekeeping and alerts until SIGTERM",
    )
    return parser


def _filter(args: argparse.Namespace) -> MemberFilter:
    return MemberFilter(
        partners=tuple(args.partner),
        roles=tuple(args.role),
        statuses=tuple(args.status),
        flags=tuple(args.flag),
        search=args.search,
        include_removed=args.include_removed,
        sort=args.sort,
        descending=args.desc,
    )


def _check_out(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory; name the CSV file to write")
    if not path.parent.is_dir():
        raise UsageError(f"--out {path}: the folder {path.parent} does not exist")


def _run(args: argparse.Namespace, settings: Settings, term: _Terminal) -> int:
    if args.command == "worker":
        return _worker(settings, term)
    level = logging.INFO if term.verbose else logging.WARNING
    configure_logging(level)
    if args.command == "export-members":
        _check_out(args.out)
    if args.command == "review" and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: not an existing folder")
    if args.command == "migrate-store":
        return _migrate_store(args, settings, term)
    if args.command == "migrate" and (settings.shared_database or running_app_url(settings) is None):
        store = Store(settings.store_target, wait_s=settings.database_wait_s)  # opening applies what is missing
        try:
            term.info(f"Database {store} is at schema version {store.schema_version()}.")
        finally:
            store.close()
        return OK
    backend = open_backend(settings, level)
    try:
        return _command(args, backend, settings, term)
    finally:
        backend.close()


def _migrate_store(args: argparse.Namespace, settings: Settings, term: _Terminal) -> int:
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


def _worker(settings: Settings, term: _Terminal) -> int:
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


def _command(args: argparse.Namespace, backend: Backend, settings: Settings, term: _Terminal) -> int:
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
    rows = backend.export(_filter(args), args.out)
    term.info(f"Exported {rows} guest users to {args.out}.")
    return OK


def _alerts(args: argparse.Namespace, backend: Backend, term: _Terminal) -> int:
    if args.alerts_command == "test":
        ok, answer = backend.alerts_test(args.channel)
        if not ok:
            raise CliFailure(answer)
        term.info(answer)
        return OK
    term.info(f"Queued {backend.retry_dead()} dead-letter alert delivery(ies) again.")
    return OK


def main(
    argv: list[str] | None = None,
    *,
    settings: Settings | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; every message for a person is one line on stderr (or the summary with -v)."""
    term = _Terminal(out or sys.stdout, err or sys.stderr, verbose=False)
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


if __name__ == "__main__":
    sys.exit(main())
