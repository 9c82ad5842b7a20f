"""Browser tests: the real app (`streamlit run streamlit_app.py` with its embedded sandbox) in Chromium.

Chromium is Debian's (`/usr/bin/chromium`); Playwright cannot download browsers here. Without it these
tests skip locally, but in CI (CI=true) a skipped browser test is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer
from tests.support import ROOT
from tests.support.onboarding import prepared_workspace
from tools import zygote

CHROMIUM = os.environ.get("PW_CHROMIUM", "/usr/bin/chromium")
# Playwright passes a --disable-features list of its own and a second one replaces it (the last wins), so this
# repeats Playwright 1.65's list (chromiumSwitches.ts; playwright is pinned) and adds the omnibox pop-up: headless
# Chromium loads that WebUI into a renderer of its own for every new context (window), which no test uses.
_PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,"
    "LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,AvoidCorsURLLoaderRestartOnRedirect,"
    "TcpPortRandomizationWin,OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,PreconnectToSearch,"
    "msForceBrowserSignIn,msEdgeUpdateLaunchServicesPreferredVersion"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    f"--disable-features={_PLAYWRIGHT_DISABLED_FEATURES},WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    sandbox_url: str
    process: subprocess.Popen | zygote.Forked
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def app_command(port: int, *args: str) -> list[str]:
    """`streamlit run streamlit_app.py` on `port`, headless, with extra Streamlit flags."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *args,
    ]


def start_app(tmp: Path, *, port: int | None = None, args: tuple[str, ...] = (), **env_extra: str) -> RunningApp:
    """The app on free ports, its data under `tmp`; sandbox mode unless `env_extra` names TikTok credentials.

    Under pytest the process is forked from the worker's pre-imported zygote (`tools/zygote.py`: the same
    `streamlit run` with the same environment, directory and log, without ~2 CPU-s of imports per start);
    PW_TEST_ZYGOTE=0 starts a plain subprocess."""
    port, sandbox_port = port or free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PW_TIKTOK_APP_ID", "PW_TIKTOK_APP_SECRET")}
    env |= {
        "PW_PORT": str(port),
        "PW_SANDBOX_PORT": str(sandbox_port),
        "PW_DATA_DIR": str(tmp / "data"),
        "PW_DB_PATH": str(tmp / "data" / "pw.duckdb"),
        **env_extra,
    }
    log_path = tmp / "app.log"
    process = zygote.popen(
        app_command(port, *args), cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT
    )
    app = RunningApp(f"http://localhost:{port}", f"http://127.0.0.1:{sandbox_port}", process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early:\n{app.log()}")
        try:
            if httpx.get(f"{app.url}/healthz", timeout=1).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the app did not answer /healthz within 60 s:\n{app.log()}")


def stop_process(process: subprocess.Popen | zygote.Forked, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def stop_app(app: RunningApp) -> None:
    stop_process(app.process)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("app"))
    yield app
    stop_app(app)


class _Chromium:
    """One Playwright driver and Chromium per worker process, kept from one browser module to the next (a
    launch costs the driver's and Chromium's start-up) and closed when the next test needs no browser: while
    Playwright's sync API is open it marks its event loop as running in this thread, so `asyncio.run` in a
    later test of the same worker would fail."""

    playwright: Any = None
    browser: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.browser is not None and cls.browser.is_connected():
            return cls.browser
        cls.close()
        from playwright.sync_api import sync_playwright

        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        return cls.browser

    @classmethod
    def close(cls) -> None:
        browser, playwright, cls.browser, cls.playwright = cls.browser, cls.playwright, None, None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            if playwright is not None:
                playwright.stop()


@pytest.fixture(scope="module")
def browser():
    """The worker's Chromium (see `_Chromium`); each test gets a new context of it (`page`)."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return _Chromium.get()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # after the test's (and its module's) fixtures are torn down
    if _Chromium.playwright is not None and (nextitem is None or "browser" not in nextitem.fixturenames):
        _Chromium.close()


def new_page(browser) -> Any:
    """A page in a new context (cookies and storage of its own). Reduced motion: Streamlit's animations then draw
    fewer frames while a test waits."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True, reduced_motion="reduce"
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


def wait_for_app(page) -> None:
    """Streamlit connected and idle (the attributes Streamlit's own e2e suite waits on)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    # generous: a page with a polling fragment is "running" often, and a loaded 2-core machine is slow
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)


_FINAL = "Completed|Not completed|Halted: safeguard"


def start_check_for_updates(page) -> int:
    """Click Partners' top-right Check for updates; returns the id of the task it started (from its toast)."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Check for updates").first.click()
    toast = page.get_by_test_id("stToast").filter(has_text=re.compile(r"started \(task #\d+\)"))
    expect(toast).to_be_visible(timeout=20_000)
    return int(re.search(r"task #(\d+)", toast.inner_text()).group(1))


def wait_for_task(page, task_id: int, *, timeout: float = 90_000) -> str:
    """On Automation: wait until task `task_id` itself (not any task) has ended; returns its status."""
    from playwright.sync_api import expect

    label = page.get_by_text(re.compile(rf"^#{task_id} · .* · ({_FINAL})$"))
    expect(label).to_be_visible(timeout=timeout)
    return re.search(rf"({_FINAL})$", label.inner_text()).group(1)


@pytest.fixture(scope="module")
def onboarded_app(
    tmp_path_factory: pytest.TempPathFactory, sandbox_session: SandboxServer, onboarded_template: Path
) -> Iterator[RunningApp]:
    """The app (`streamlit run`) on a copy of the onboarded workspace, against the session's reset sandbox."""
    sandbox_session.reset()
    root = tmp_path_factory.mktemp("members-app")
    env = prepared_workspace(onboarded_template, root / "ws", sandbox_session)
    app = start_app(root, PW_SANDBOX_EXTERNAL="1", **env)
    yield app
    stop_app(app)
