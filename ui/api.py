"""Local HTTP API served next to Streamlit (mounted by `ui/routes.py`).

- `GET /api/export/members.csv?token=…`: the Members page's **Download CSV**, authorised by a short-lived
  single-use export token minted by the page (`core.members.export.mint_token`); the filters come from the token.
- The CLI's routes, authorised by `Authorization: Bearer <settings.api_token>` (constant-time compare):
  `GET /api/export/members.csv?<filters>`, `POST /api/sync` `{"partner": BC_ID | null}`,
  `GET /api/tasks/{task_id}`, `POST /api/keys/rotate` (re-encrypt every secret under the primary key),
  `GET /api/reviews/{id}/report.csv|pdf` (an access review's attestation report; the CSV's stored SHA-256 in
  the `X-PartnerWatch-SHA256` header).

Handlers are plain `def`s (Starlette runs them in its thread pool), so they may call the blocking core.
"""

from __future__ import annotations

import hmac
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core import services as core_services
from core.alerts import dispatcher, outbox
from core.cli import local, remote
from core.cli.errors import CliFailure, UsageError
from core.cli.task_report import task_report
from core.members import export
from core.members.filters import MemberFilter
from core.reviews import campaigns, report
from core.reviews.errors import ReviewError
from core.security import keys
from core.security.roles import SYSTEM_CLI, NotAllowed
from core.services import Services
from core.sync import check_for_updates
from core.tasks.jobs import TRIGGER_CLI

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def bearer_ok(request: Request, services: Services) -> bool:
    """Whether the request carries the configured API token."""
    expected = services.settings.api_token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())


def _refused(message: str, status: int) -> Response:
    return PlainTextResponse(message, status_code=status, headers=_NO_STORE)


def export_members(request: Request) -> Response:
    svc = core_services.get()
    token = request.query_params.get("token")
    try:
        if token:
            actor, member_filter = export.redeem_token(svc.store, token)
            via = "Download CSV"
        elif bearer_ok(request, svc):
            actor, member_filter, via = SYSTEM_CLI, MemberFilter.from_mapping(request.query_params), "command line"
            local.check_partners(svc.store, member_filter.partners)
        else:
            return _refused("Use Download CSV on the Members page (or the CLI with its API token).", 401)
        chunks = export.stream_members(svc.store, member_filter, actor=actor, via=via)
    except export.ExportTokenError as exc:
        return _refused(str(exc), 403)
    except NotAllowed as exc:
        return _refused(str(exc), 403)
    except UsageError as exc:
        return _refused(str(exc), 400)
    except ValueError as exc:
        return _refused(f"Bad filter: {exc}", 400)
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{export.filename()}"'}
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)


async def api_sync(request: Request) -> Response:
    svc = await run_in_threadpool(core_services.get)
    if not bearer_ok(request, svc):
        return _refused("Missing or wrong API token.", 401)
    try:
        body = json.loads(await request.body() or b"{}")
        partner = body.get("partner") if isinstance(body, dict) else None
    except ValueError:
        return _refused("The body must be JSON.", 400)
    try:
        if partner:
            await run_in_threadpool(local.check_partners, svc.store, [str(partner)])
    except UsageError as exc:
        return _refused(str(exc), 400)
    task_id = await run_in_threadpool(
        lambda: check_for_updates.request(svc, actor=SYSTEM_CLI, trigger=TRIGGER_CLI, partner_bc_id=partner or None)
    )
    return JSONResponse({"task_id": task_id}, headers=_NO_STORE)


def api_task(request: Request) -> Response:
    svc = core_services.get()
    if not bearer_ok(request, svc):
        return _refused("Missing or wrong API token.", 401)
    try:
        report = task_report(svc.store, int(request.path_params["task_id"]))
    except CliFailure as exc:
        return _refused(str(exc), 404)
    return JSONResponse(report.as_dict(), headers=_NO_STORE)


def api_rotate_key(request: Request) -> Response:
    svc = core_services.get()
    if not bearer_ok(request, svc):
        return _refused("Missing or wrong API token.", 401)
    try:
        report = keys.rotate_all(svc.store, svc.box, SYSTEM_CLI)
    except keys.RotationError as exc:
        return _refused(str(exc), 409)
    return JSONResponse(
        {"message": report.line(), "rotated": report.rotated, "current": report.current}, headers=_NO_STORE
    )


def api_review_report(request: Request) -> Response:
    svc = core_services.get()
    if not bearer_ok(request, svc):
        return _refused("Missing or wrong API token.", 401)
    campaign_id, kind = int(request.path_params["campaign_id"]), request.path_params["kind"]
    if kind not in ("csv", "pdf"):
        return _refused("The report is report.csv or report.pdf.", 404)
    try:
        local.check_campaign(svc.store, campaign_id)
        pdf = report.stored_pdf(svc.store, SYSTEM_CLI, campaign_id)
    except UsageError as exc:
        return _refused(str(exc), 400)
    except ReviewError as exc:
        return _refused(str(exc), 409)
    csv_name, pdf_name = report.file_names(campaign_id)
    report.audit_download(svc.store, SYSTEM_CLI, campaign_id, f"{kind.upper()} (command line)")
    if kind == "pdf":
        headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{pdf_name}"'}
        return Response(pdf, media_type="application/pdf", headers=headers)
    campaign = campaigns.get(svc.store, SYSTEM_CLI, campaign_id)
    headers = {
        **_NO_STORE,
        "Content-Disposition": f'attachment; filename="{csv_name}"',
        remote.SHA256_HEADER: campaign.csv_sha256 or "",
    }
    chunks = report.csv_stream(svc.store, campaign_id)
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)


async def api_alerts_test(request: Request) -> Response:
    svc = await run_in_threadpool(core_services.get)
    if not bearer_ok(request, svc):
        return _refused("Missing or wrong API token.", 401)
    body = await request.json()
    try:
        ok, answer = await run_in_threadpool(local.alerts_test, svc, str(body.get("channel") or ""))
    except UsageError as exc:
        return _refused(str(exc), 400)
    return JSONResponse({"ok": ok, "answer": answer}, headers=_NO_STORE)


def api_alerts_retry_dead(request: Request) -> Response:
    svc = core_services.get()
    if not bearer_ok(request, svc):
        return _refused("Missing or wrong API token.", 401)
    count = outbox.retry(svc.store, SYSTEM_CLI)
    dispatcher.wake()
    return JSONResponse({"count": count}, headers=_NO_STORE)


async def store_error(request: Request, exc: Exception) -> Response:
    """A store error no route caught (the database server down or lost: `DatabaseUnavailable`, `ConnectionLost`):
    503 with its message, which the CLI shows, instead of a bare 500."""
    return _refused(str(exc), 503)


ROUTES = [
    Route(export.EXPORT_PATH, export_members, methods=["GET"]),
    Route(remote.API_SYNC, api_sync, methods=["POST"]),
    Route("/api/tasks/{task_id:int}", api_task, methods=["GET"]),
    Route(remote.API_ROTATE_KEY, api_rotate_key, methods=["POST"]),
    Route("/api/reviews/{campaign_id:int}/report.{kind:str}", api_review_report, methods=["GET"]),
    Route(remote.API_ALERTS_TEST, api_alerts_test, methods=["POST"]),
    Route(remote.API_ALERTS_RETRY_DEAD, api_alerts_retry_dead, methods=["POST"]),
]
