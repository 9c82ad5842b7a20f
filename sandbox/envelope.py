"""HTTP responses of the emulated API: the JSON envelope, request IDs, the Go-style plain 404/405 bodies
and the non-JSON bodies of injected faults."""

from __future__ import annotations

import itertools
import json
import secrets
import string
import threading
import time
from typing import Any

from starlette.responses import PlainTextResponse, Response

_ALPHABET = string.ascii_uppercase + string.digits
_counter = itertools.count()
_counter_lock = threading.Lock()


def request_id() -> str:
    """A 14-digit UTC timestamp then 18 alphanumerics (format INFERRED), unique within the process:
    6 characters are a base-36 counter, 12 are random."""
    with _counter_lock:
        number = next(_counter) % 36**6
    counter = ""
    for _ in range(6):
        number, digit = divmod(number, 36)
        counter = _ALPHABET[digit] + counter
    noise = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + noise + counter


def envelope(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    """Always HTTP 200: `{"code","message","request_id","data"}`, `data` {} on error, header X-Tt-Logid."""
    rid = request_id()
    body = {"code": code, "message": message, "request_id": rid, "data": data if code == 0 and data else {}}
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(payload, 200, media_type="application/json", headers={"X-Tt-Logid": rid})


def not_found() -> Response:
    """What TikTok's Go front answers for an unknown path or a missing trailing slash (INFERRED)."""
    return PlainTextResponse("404 page not found", 404)


def method_not_allowed() -> Response:
    return PlainTextResponse("405 method not allowed", 405)


def gateway_error(status: int) -> Response:
    """A non-JSON 5xx body, as a proxy in front of the API would send."""
    if status == 504:
        html = (
            "<html><head><title>504 Gateway Time-out</title></head><body><center>"
            "<h1>504 Gateway Time-out</h1></center></body></html>"
        )
        return Response(html, 504, media_type="text/html")
    return PlainTextResponse("Internal Server Error" if status == 500 else f"{status} error", status)


def malformed() -> Response:
    """HTTP 200 whose JSON body is cut off mid-way."""
    rid = request_id()
    text = '{"code":0,"message":"OK","request_id":"' + rid + '","data":{"list":[{"user_id":"72'
    return Response(text, 200, media_type="application/json", headers={"X-Tt-Logid": rid})
