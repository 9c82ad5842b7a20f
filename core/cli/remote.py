"""The CLI through the running app's authenticated local API (`/api/...`, served by ui/api.py): the same commands
and the same output as with the database opened here."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from core.cli.csv_out import write_chunks
from core.cli.errors import CliFailure, UsageError
from core.cli.running_app import HEALTH
from core.cli.task_report import POLL_INTERVAL_S, Progress, TaskReport, follow
from core.config.settings import Settings
from core.members import export
from core.members.filters import MemberFilter
from core.reviews import report

API_SYNC = "/api/sync"
API_ROTATE_KEY = "/api/keys/rotate"
API_ALERTS_TEST = "/api/alerts/test"
API_ALERTS_RETRY_DEAD = "/api/alerts/retry-dead"
API_TASK = "/api/tasks/{task_id}"
API_REVIEW_REPORT = "/api/reviews/{campaign_id}/report.{kind}"  # kind: csv | pdf
SHA256_HEADER = "X-PartnerWatch-SHA256"


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
            rows = write_chunks(response.iter_bytes(), out)
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
            write_chunks(_hashed(response.iter_bytes(), digest), out_dir / csv_name)
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


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """The chunks as they come, fed to `digest` on the way."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
