"""The CLI with the database opened here (the app is not running), and the checks the app's API runs for a remote
CLI (`ui/api.py`), so both answer a bad partner, campaign or channel with the same usage error."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from core import services as core_services
from core.accounts import partners
from core.alerts import channels, dispatcher, outbox
from core.cli.csv_out import write_chunks
from core.cli.errors import CliFailure, UsageError
from core.cli.parser import PROG
from core.cli.task_report import POLL_INTERVAL_S, Progress, TaskReport, follow, task_report
from core.config.settings import Settings
from core.members import export
from core.members.filters import MemberFilter
from core.reviews import campaigns, report
from core.reviews.errors import ReviewError
from core.security import keys
from core.security.roles import SYSTEM_CLI
from core.store.database import Store
from core.sync import check_for_updates
from core.tasks.jobs import TRIGGER_CLI


def check_partners(store: Store, bc_ids: Iterable[str]) -> None:
    """A bad --partner is a usage error (exit 2), not an empty export or a failed task."""
    for bc_id in bc_ids:
        if partners.get(store, bc_id) is None:
            raise UsageError(
                f"--partner {bc_id}: no partner with this BC id (the Partners page lists them; "
                f"`{PROG} sync` refreshes the list)"
            )


def check_campaign(store: Store, campaign_id: int) -> None:
    """UsageError unless the access review exists."""
    try:
        campaigns.get(store, SYSTEM_CLI, campaign_id)
    except ReviewError as exc:
        raise UsageError(f"--campaign {campaign_id}: {exc}") from exc


def alerts_test(services: core_services.Services, channel: str) -> tuple[bool, str]:
    """Send a channel's test message (CLI and its API route); UsageError for an unknown channel."""
    if channels.by_name(services.store, channel) is None:
        raise UsageError(f"--channel {channel}: there is no alert channel of that name")
    result = dispatcher.send_test(services, SYSTEM_CLI, channel)
    return result.ok, f"{channel}: the receiver answered {result.answer}"


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
        return write_chunks(chunks, out)

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
