"""The control API of a running sandbox (JSON in, JSON out; not part of TikTok's API).

    POST /sandbox/control/members/add      {"bc_id", "user_email", "user_name"?, "user_role"?, "relation_status"?,
                                            "finance_role"?}
    POST /sandbox/control/members/remove   {"bc_id", "user_id" | "user_email"}
    POST /sandbox/control/members/update   {"bc_id", "user_id" | "user_email", "user_role"?, "relation_status"?,
                                            "finance_role"? (null clears), "user_name"?}
    POST /sandbox/control/tokens/revoke    {"access_token"} | {"user_email"}
    POST /sandbox/control/faults           {"route": "bc/member/get/" | "*", "count"?: 1, and one of
                                            "code" (+ "message"?), "http_status", "hang_seconds", "malformed": true}
    GET  /sandbox/control/faults           pending faults
    POST /sandbox/control/faults/clear     {}
    POST /sandbox/control/latency          {"ms"}
    POST /sandbox/control/ratelimit        {"qps", "qpm"}
    POST /sandbox/control/reset            {}
    GET  /sandbox/world                    the whole world as JSON

Success: HTTP 200 `{"ok": true, ...}`; bad input: 400, unknown BC or member: 404, `{"ok": false, "error"}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.api import ROUTES as API_ROUTES
from sandbox.faults import Fault, normalize_route
from sandbox.models import FINANCE_ROLES, RELATION_STATUSES, USER_ROLES
from sandbox.state import SandboxState

Handler = Callable[[SandboxState, dict[str, Any]], dict[str, Any]]


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status)


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as error:
            return _json({"ok": False, "error": f"invalid JSON: {error}"}, 400)
        if not isinstance(body, dict):
            return _json({"ok": False, "error": "the body must be a JSON object"}, 400)
        try:
            return _json({"ok": True, **handler(request.app.state.sandbox, body)})
        except ControlError as error:
            return _json({"ok": False, "error": str(error)}, error.status)
        except KeyError as error:
            return _json({"ok": False, "error": str(error.args[0])}, 404)
        except (TypeError, ValueError) as error:
            return _json({"ok": False, "error": str(error)}, 400)

    return endpoint


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = body.get(name, default)
    if value is not None and value not in choices:
        raise ControlError(f"{name} must be one of {', '.join(choices)}")
    return value


def _finance(body: dict[str, Any]) -> str | None:
    value = body.get("finance_role") or None
    return _choice({"finance_role": value}, "finance_role", FINANCE_ROLES, None)


def _who(body: dict[str, Any]) -> dict[str, str | None]:
    if not body.get("user_id") and not body.get("user_email"):
        raise ControlError("user_id or user_email is required")
    return {"user_id": body.get("user_id"), "user_email": body.get("user_email")}


def _bc_id(body: dict[str, Any]) -> str:
    if not body.get("bc_id"):
        raise ControlError("bc_id is required")
    return str(body["bc_id"])


def members_add(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("user_email"):
        raise ControlError("user_email is required")
    try:
        member = state.world.add_member(
            _bc_id(body),
            str(body["user_email"]),
            body.get("user_name"),
            str(_choice(body, "user_role", USER_ROLES, "STANDARD")),
            str(_choice(body, "relation_status", RELATION_STATUSES, "BOUND")),
            _finance(body),
        )
    except ValueError as error:
        raise ControlError(str(error), 409) from None
    return {"member": member.wire()}


def members_remove(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    return {"member": state.world.remove_member(_bc_id(body), **_who(body)).wire()}


def members_update(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "user_role" in body:
        changes["user_role"] = _choice(body, "user_role", USER_ROLES, None)
    if "relation_status" in body:
        changes["relation_status"] = _choice(body, "relation_status", RELATION_STATUSES, None)
    if "finance_role" in body:
        changes["finance_role"] = _finance(body)
    if body.get("user_name"):
        changes["user_name"] = str(body["user_name"])
    if not changes:
        raise ControlError("nothing to change: give user_role, relation_status, finance_role or user_name")
    return {"member": state.world.update_member(_bc_id(body), changes, **_who(body)).wire()}


def tokens_revoke(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("access_token"):
        return {"revoked": 1 if state.world.revoke_token(str(body["access_token"])) else 0}
    if body.get("user_email"):
        return {"revoked": state.world.revoke_user_tokens(str(body["user_email"]))}
    raise ControlError("access_token or user_email is required")


def faults_add(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    route = normalize_route(str(body.get("route", "")))
    if route != "*" and route not in API_ROUTES:
        raise ControlError(f"unknown route {route!r}; use e.g. 'bc/member/get/' or '*'")
    fault = Fault(
        route=route,
        code=_optional_int(body, "code"),
        message=body.get("message"),
        http_status=_optional_int(body, "http_status"),
        hang_seconds=float(body.get("hang_seconds") or 0),
        malformed=bool(body.get("malformed")),
    )
    if fault.code is None and fault.http_status is None and not fault.malformed and fault.hang_seconds <= 0:
        raise ControlError("give one of code, http_status, hang_seconds, malformed")
    if fault.http_status is not None and not 400 <= fault.http_status <= 599:
        raise ControlError("http_status must be a 4xx or 5xx status")
    count = _optional_int(body, "count") or 1
    state.faults.add(fault, count)
    return {"fault": fault.as_dict(), "count": count}


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be an integer") from None


def faults_list(state: SandboxState, _body: dict[str, Any]) -> dict[str, Any]:
    return {"faults": state.faults.pending()}


def faults_clear(state: SandboxState, _body: dict[str, Any]) -> dict[str, Any]:
    state.faults.clear()
    return {}


def latency(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    state.latency_ms = max(0.0, float(body.get("ms", 0)))
    return {"latency_ms": state.latency_ms}


def ratelimit(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    qps = float(body.get("qps", state.limiter.qps))
    qpm = float(body.get("qpm", state.limiter.qpm))
    if qps <= 0 or qpm <= 0:
        raise ControlError("qps and qpm must be positive")
    state.limiter.configure(qps, qpm)
    return {"qps": qps, "qpm": qpm}


def reset(state: SandboxState, _body: dict[str, Any]) -> dict[str, Any]:
    state.reset()
    return {}


async def world_dump(request: Request) -> Response:
    """GET /sandbox/world: the world as JSON; the same seed gives the same bytes."""
    state: SandboxState = request.app.state.sandbox
    payload = json.dumps(state.world.to_json(), ensure_ascii=False, separators=(",", ":"))
    return Response(payload.encode("utf-8"), media_type="application/json")


_PREFIX = "/sandbox/control/"
ROUTES = [
    Route(_PREFIX + "members/add", _endpoint(members_add), methods=["POST"]),
    Route(_PREFIX + "members/remove", _endpoint(members_remove), methods=["POST"]),
    Route(_PREFIX + "members/update", _endpoint(members_update), methods=["POST"]),
    Route(_PREFIX + "tokens/revoke", _endpoint(tokens_revoke), methods=["POST"]),
    Route(_PREFIX + "faults", _endpoint(faults_add), methods=["POST"]),
    Route(_PREFIX + "faults", _endpoint(faults_list), methods=["GET"]),
    Route(_PREFIX + "faults/clear", _endpoint(faults_clear), methods=["POST"]),
    Route(_PREFIX + "latency", _endpoint(latency), methods=["POST"]),
    Route(_PREFIX + "ratelimit", _endpoint(ratelimit), methods=["POST"]),
    Route(_PREFIX + "reset", _endpoint(reset), methods=["POST"]),
    Route("/sandbox/world", world_dump, methods=["GET"]),
]
