"""The `/open_api/v1.3/` routes: dispatch, added latency, injected faults, the per-app rate limit and the
envelope around the handlers of `oauth.py` and `bc.py`.

Order per call: route lookup (unknown path or no trailing slash → plain 404; wrong method → plain 405),
latency, fault, rate limit (HTTP 200, code 40100), body parsing, handler.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response

from sandbox import bc, oauth
from sandbox.call import Call
from sandbox.envelope import envelope, gateway_error, malformed, method_not_allowed, not_found
from sandbox.errors import PARAM_ERROR, REQUEST_TOO_FREQUENT, ApiError, message_for
from sandbox.faults import Fault
from sandbox.state import SandboxState


class Route(NamedTuple):
    method: str
    handler: Callable[[Call], dict[str, Any]]


ROUTES: dict[str, Route] = {
    "oauth2/access_token/": Route("POST", oauth.access_token),
    "oauth2/revoke_token/": Route("POST", oauth.revoke_token),
    "oauth2/advertiser/get/": Route("GET", oauth.advertiser_get),
    "user/info/": Route("GET", oauth.user_info),
    "bc/get/": Route("GET", bc.bc_get),
    "bc/member/get/": Route("GET", bc.member_get),
    "bc/partner/get/": Route("GET", bc.partner_get),
    "bc/partner/asset/get/": Route("GET", bc.partner_asset_get),
    "bc/asset/get/": Route("GET", bc.asset_get),
    "bc/asset/admin/get/": Route("GET", bc.asset_admin_get),
    "bc/asset/member/get/": Route("GET", bc.asset_member_get),
    "bc/asset/partner/get/": Route("GET", bc.asset_partner_get),
    "advertiser/info/": Route("GET", oauth.advertiser_info),
}


async def open_api(request: Request) -> Response:
    """Entry point of every `/open_api/v1.3/{path}` request."""
    path = request.path_params["path"]
    route = ROUTES.get(path)
    if route is None:
        return not_found()
    if request.method != route.method:
        return method_not_allowed()
    state: SandboxState = request.app.state.sandbox
    if state.latency_ms > 0:
        await asyncio.sleep(state.latency_ms / 1000)
    fault = state.faults.take(path)
    if fault is not None:
        faulted = await _fault_response(fault, state)
        if faulted is not None:
            return faulted
    if not state.limiter.allow():
        return envelope(REQUEST_TOO_FREQUENT, message_for(REQUEST_TOO_FREQUENT, state.world.app.app_id))
    try:
        call = Call(
            state.world,
            request.query_params,
            await _body(request),
            request.headers.get("access-token"),
            state.config.inferred,
        )
        return envelope(0, "OK", route.handler(call))
    except ApiError as error:
        return envelope(error.code, error.message)


async def _fault_response(fault: Fault, state: SandboxState) -> Response | None:
    """The injected answer, or None when the fault only delays the call (a hang)."""
    if fault.hang_seconds > 0:
        await asyncio.sleep(fault.hang_seconds)
    if fault.http_status is not None:
        return gateway_error(fault.http_status)
    if fault.malformed:
        return malformed()
    if fault.code is not None:
        return envelope(fault.code, fault.message or message_for(fault.code, state.world.app.app_id))
    return None


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object body of a POST ({} for GET); 40002 when it is not a JSON object."""
    if request.method != "POST":
        return {}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(PARAM_ERROR, "Invalid JSON body.") from None
    if not isinstance(body, dict):
        raise ApiError(PARAM_ERROR, "The request body must be a JSON object.")
    return body
