"""HTTP routes served next to Streamlit by `st.App`: health, the OAuth pop-up, and the lifespan.

In sandbox mode the lifespan also starts the TikTok emulator on `PW_SANDBOX_PORT`, with this app's
callback URL registered as its redirect URI and its state kept under the data directory, so `make run` is
the whole set-up and a restart keeps every connection working. A process of role `all` (the default) also
runs the background work (`core.worker`); a `web` replica does not. On stop the lifespan closes the store.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from core import services as core_services
from core import worker
from core.cli import running_app
from core.config.settings import Settings
from core.connect import connections
from core.connect.oauth_flows import FlowError
from core.members import paging
from ui import api, startup

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


SANDBOX_STATE_FILE = "sandbox-state.json"  # under the data directory: the embedded sandbox's tokens and changes


def start_sandbox(settings: Settings) -> Any:
    """Start the embedded TikTok emulator (sandbox mode only); returns the server to stop later.

    Its tokens and control changes live in `data/sandbox-state.json`, so they survive a restart as the
    app's copies in DuckDB do; PW_SANDBOX_RESET=1 (or `make reset-sandbox`) starts it from the seed.
    """
    from sandbox.server import SandboxConfig, SandboxServer  # the app, never core/, may embed it

    config = SandboxConfig(
        seed=settings.sandbox_seed,
        qps=max(settings.qps, 10),
        redirect_uris=[settings.redirect_uri],
        state_file=str(settings.data_dir / SANDBOX_STATE_FILE),
        reset_state=os.environ.get("PW_SANDBOX_RESET") == "1",
    )
    server = SandboxServer(config, host="127.0.0.1", port=settings.sandbox_port).start()
    log.info("TikTok sandbox listening on %s", server.base_url)
    return server


def local_url() -> str:
    """Where this process serves, as the CLI on this machine reaches it (Streamlit's own port setting)."""
    from streamlit import config

    host = config.get_option("server.address") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (a wildcard bind, not a bind here)
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{host}:{config.get_option('server.port')}" + (f"/{base}" if base else "")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    settings = Settings.load()
    # PW_SANDBOX_EXTERNAL=1: a sandbox already listens on PW_SANDBOX_PORT (tests that pre-seed the world)
    embed = settings.sandbox and os.environ.get("PW_SANDBOX_EXTERNAL") != "1"
    sandbox = await run_in_threadpool(start_sandbox, settings) if embed else None
    svc = await run_in_threadpool(core_services.get)
    threading.Thread(target=paging.warm, args=(svc.store,), name="pw-warm", daemon=True).start()
    if settings.runs_jobs:  # role all: tasks, the daily sync, housekeeping and alerts run here (one thread each)
        await run_in_threadpool(worker.start, core_services.get)
    url = local_url()
    running_app.record_app_url(settings.data_dir, url)  # the CLI finds this app whatever port it was given
    startup.freeze_heap()
    try:
        yield {}
    finally:
        running_app.forget_app_url(settings.data_dir, url)
        await run_in_threadpool(_shut_down, svc, sandbox)


def _shut_down(svc: core_services.Services, sandbox: Any) -> None:
    """Stop background work, then checkpoint and close the database, so a stop leaves no WAL behind."""
    if svc.settings.runs_jobs:
        worker.stop(svc)  # a task still running ends Not completed
    core_services.install(None)
    svc.close()
    if sandbox is not None:
        sandbox.stop()
    log.info("PartnerWatch stopped; the database is checkpointed and closed")


async def healthz(request: Request) -> JSONResponse:
    svc = await run_in_threadpool(core_services.get)
    return JSONResponse(
        {
            "status": "ok",
            "mode": "sandbox" if svc.settings.sandbox else "live",
            "schema_version": svc.store.schema_version(),
        }
    )


def oauth_start(request: Request) -> Response:
    svc = core_services.get()
    try:
        url, binding = connections.redirect_for_start(svc, request.query_params.get("state"))
    except FlowError as exc:
        return _page("This sign-in link is no longer valid", str(exc), ok=False, status=400)
    response = RedirectResponse(url, status_code=302, headers=_NO_STORE)
    response.set_cookie(
        connections.BINDING_COOKIE, binding, max_age=600, path="/api/oauth/", httponly=True, samesite="lax"
    )
    return response


def oauth_callback(request: Request) -> Response:
    try:
        svc = core_services.get()
    except Exception as exc:  # the pop-up still ends on a page that says what happened, with a reference
        outcome = connections.unexpected(None, None, exc)
    else:
        outcome = connections.finish_callback(
            svc, dict(request.query_params), request.cookies.get(connections.BINDING_COOKIE)
        )
    response = _page(outcome.title, outcome.message, ok=outcome.ok, status=200 if outcome.ok else 400)
    response.delete_cookie(connections.BINDING_COOKIE, path="/api/oauth/")
    return response


def _page(title: str, message: str, *, ok: bool, status: int) -> HTMLResponse:
    """The pop-up's last page: says what happened, then closes itself when a script opened it."""
    color = "#137333" if ok else "#b3261e"
    close = "setTimeout(function(){ if (window.opener) { window.close(); } }, 1200);" if ok else ""
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>PartnerWatch · {html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}}
h1{{color:{color};font-size:1.4rem}}</style></head><body>
<h1>{html.escape(title)}</h1><p id="message">{html.escape(message)}</p>
<p>You can close this window and return to PartnerWatch.</p>
<script>{close}</script></body></html>"""
    return HTMLResponse(body, status_code=status, headers=_NO_STORE)


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route(connections.START_PATH, oauth_start, methods=["GET"]),
    Route(connections.CALLBACK_PATH, oauth_callback, methods=["GET"]),
    *api.ROUTES,  # Download CSV and the CLI's local API
]
