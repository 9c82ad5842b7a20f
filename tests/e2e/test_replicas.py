"""Two web replicas and a worker sharing one PostgreSQL database (issue 18), in Chromium.

One fresh database from the session's cluster, one external sandbox, replicas A and B (`streamlit run` with
PW_PROCESS_ROLE=web) on two ports and one `python -m core.cli worker` (PW_PROCESS_ROLE=worker), each with its
own data directory and the same database URL, encryption key, API token and public URL, which names B: TikTok
returns every OAuth flow to B, as a load balancer may send it anywhere. The connect wizard runs on A, the
pop-up comes back to B and the wizard on A sees the outcome; a Check for updates requested on B is claimed by
the worker (no web replica runs jobs) and its progress and result show on A.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from core.config.settings import CALLBACK_PATH
from core.security.crypto import SecretBox
from sandbox.server import SandboxConfig, SandboxServer
from tests.support.backends import PgCluster
from tests.support.browser import (
    RunningApp,
    free_port,
    new_page,
    start_app,
    start_check_for_updates,
    stop_app,
    wait_for_app,
    wait_for_task,
)
from tests.support.replicas import Worker, start_worker, stop_worker
from tests.support.wizard import (
    SLOW,
    connect_customer,
    eligible_admin,
    nav,
    popup_login_and_confirm,
    share_monitor_account_through_the_vault,
    through_the_dialog,
    to_wizard_from_partners,
)

_ACTIVE = "Queued|Started|Running|Retrying"


@dataclass
class Deployment:
    a: RunningApp
    b: RunningApp
    worker: Worker
    sandbox: SandboxServer
    database_url: str

    def claimed_by(self, task_id: int) -> str | None:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT claimed_by FROM tasks WHERE id = %s", [task_id]).fetchone()
        return None if row is None else row[0]

    def claimers(self) -> set[str | None]:
        """Who claimed the tasks (their jobs, rows with a parent, are not claimed on their own)."""
        with psycopg.connect(self.database_url) as conn:
            return {row[0] for row in conn.execute("SELECT claimed_by FROM tasks WHERE parent_id IS NULL").fetchall()}

    def latency(self, ms: int) -> None:
        """Every TikTok call takes `ms` (holds a task running while the test looks at it)."""
        response = httpx.post(f"{self.sandbox.base_url}/sandbox/control/latency", json={"ms": ms}, timeout=10)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def deployment(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("replicas")
    port_a, port_b = free_port(), free_port()
    public_url = f"http://localhost:{port_b}"
    database_url = pg_cluster.fresh_database()
    with contextlib.ExitStack() as stack:  # everything started is stopped, even when a later start fails
        stack.callback(pg_cluster.drop, database_url)
        config = SandboxConfig(
            seed=7, partners=6, members=40, qps=1000, qpm=100_000, redirect_uris=[public_url + CALLBACK_PATH]
        )
        sandbox = SandboxServer(config).start()
        stack.callback(sandbox.stop)
        shared = {
            "PW_DATABASE_URL": database_url,
            "PW_ENCRYPTION_KEYS": SecretBox.generate_key(),
            "PW_API_TOKEN": secrets.token_urlsafe(24),
            "PW_PUBLIC_URL": public_url,
            "PW_REDIRECT_URI": public_url + CALLBACK_PATH,
            "PW_SANDBOX_PORT": str(sandbox.port),
            "PW_SANDBOX_EXTERNAL": "1",
            "PW_QPS": "1000",
        }
        apps = []
        for label, port in (("a", port_a), ("b", port_b)):
            (root / label).mkdir()
            app = start_app(root / label, port=port, PW_PROCESS_ROLE="web", **shared)
            stack.callback(stop_app, app)
            apps.append(app)
        (root / "worker").mkdir()
        worker_env = shared | {"PW_PROCESS_ROLE": "worker", "PW_DATA_DIR": str(root / "worker" / "data")}
        worker = start_worker(root / "worker", worker_env)
        stack.callback(stop_worker, worker)
        yield Deployment(apps[0], apps[1], worker, sandbox, database_url)


def _returns_to(page: Page) -> list[str]:
    """The OAuth callback URLs the browser (any tab or pop-up of this page's context) requests, as they come."""
    seen: list[str] = []
    page.context.on("request", lambda request: seen.append(request.url) if CALLBACK_PATH in request.url else None)
    return seen


def _sync_on_b_shown_on_a(page: Page, deployment: Deployment) -> int:
    """Check for updates requested on B (held running by slow TikTok calls), seen live on A's Automation page
    while the worker runs it, then seen ending there; returns its id."""
    deployment.latency(1_500)
    try:
        page.goto(deployment.b.url)
        wait_for_app(page)
        nav(page, "Partners")
        task_id = start_check_for_updates(page)
        page.goto(f"{deployment.a.url}/automation")
        wait_for_app(page)
        running = page.get_by_text(re.compile(rf"^#{task_id} · Check for updates · All partners · ({_ACTIVE})$"))
        expect(running).to_be_visible(timeout=SLOW)
        assert deployment.claimed_by(task_id) in (None, deployment.worker.name)  # Queued, or the worker's
    finally:
        deployment.latency(0)
    assert wait_for_task(page, task_id) == "Completed", deployment.worker.log()
    return task_id


def _customer_connected_on_a_through_b(browser: Browser, deployment: Deployment) -> None:
    """Settings on A → the customer's authorization, which TikTok returns to B; then the partner list synced
    (requested on B, run by the worker, seen on A). In a context of its own: the portal's login is not kept."""
    page = new_page(browser)
    try:
        returns = _returns_to(page)
        connect_customer(page, deployment.a.url)
        assert returns, "the customer's authorization never came back"
        assert all(url.startswith(deployment.b.url + CALLBACK_PATH) for url in returns), returns
        task_id = _sync_on_b_shown_on_a(page, deployment)
        assert deployment.claimed_by(task_id) == deployment.worker.name
    finally:
        page.context.close()


@pytest.mark.slow
def test_the_wizard_on_a_completes_through_b_and_a_sync_requested_on_b_runs_on_the_worker_and_shows_on_a(
    deployment: Deployment, browser: Browser, page: Page
) -> None:
    _customer_connected_on_a_through_b(browser, deployment)
    world = httpx.get(f"{deployment.sandbox.base_url}/sandbox/world", timeout=30).json()
    partner = eligible_admin(world)
    returns = _returns_to(page)
    page.goto(deployment.a.url)
    wait_for_app(page)
    to_wizard_from_partners(page, partner)
    email, password = share_monitor_account_through_the_vault(page, partner)
    through_the_dialog(page)
    popup_login_and_confirm(page, "Next", email, password).wait_for_event("close", timeout=SLOW)
    assert returns, "the partner's authorization never came back"
    assert all(url.startswith(deployment.b.url + CALLBACK_PATH) for url in returns), returns
    expect(page.get_by_text(f"{partner['name']} is connected")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text(f"{partner['name']} is onboarded")).to_be_visible(timeout=SLOW)

    task_id = _sync_on_b_shown_on_a(page, deployment)
    assert deployment.claimed_by(task_id) == deployment.worker.name
    assert deployment.claimers() == {deployment.worker.name}  # every task, the onboarding's too, ran there
    nav(page, "Members")
    expect(page.get_by_test_id("stDataFrame").first).to_contain_text(partner["name"], timeout=SLOW)
