"""A local alert receiver: `POST /sandbox/webhooks[/NAME]` records what PartnerWatch sends (a webhook,
Slack or Teams channel pointed here in sandbox mode); `GET /sandbox/webhooks` shows it, newest first
(`?format=json` for scripts). It keeps the last 200 messages in memory and marks a repeated
`Idempotency-Key` as a duplicate. It does not check signatures: it does not know the channel's key."""

from __future__ import annotations

import html
import json
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

_KEEP = 200
_SHOWN_HEADERS = ("idempotency-key", "x-partnerwatch-timestamp", "x-partnerwatch-signature", "content-type")


class Inbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: deque[dict[str, Any]] = deque(maxlen=_KEEP)

    def add(self, name: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        key = headers.get("idempotency-key")
        with self._lock:
            duplicate = bool(key) and any(m["idempotency_key"] == key for m in self.messages)
            try:
                parsed: Any = json.loads(body)
            except ValueError:
                parsed = body.decode("utf-8", "replace")
            message = {
                "received_at": datetime.now(UTC).isoformat(),
                "name": name,
                "idempotency_key": key,
                "duplicate": duplicate,
                "headers": {h: headers[h] for h in _SHOWN_HEADERS if h in headers},
                "body": parsed,
            }
            self.messages.appendleft(message)
            return message

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)


async def receive(request: Request) -> Response:
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    message = request.app.state.webhooks.add(request.path_params.get("name", ""), headers, body)
    return JSONResponse({"ok": True, "duplicate": message["duplicate"]})


async def show(request: Request) -> Response:
    messages = request.app.state.webhooks.all()
    if request.query_params.get("format") == "json":
        return JSONResponse(messages)
    rows = "".join(
        f"<article><h2>{html.escape(m['received_at'])} · {html.escape(m['name'] or '(no name)')}"
        f"{' · duplicate' if m['duplicate'] else ''}</h2>"
        f"<pre>{html.escape(json.dumps(m['headers'], indent=2))}</pre>"
        f"<pre>{html.escape(json.dumps(m['body'], indent=2, ensure_ascii=False))}</pre></article>"
        for m in messages
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sandbox webhooks</title>"
        "<meta http-equiv='refresh' content='5'><style>body{font-family:system-ui,sans-serif;margin:2rem}"
        "pre{background:#f4f4f4;padding:.5rem;overflow:auto}</style></head><body>"
        f"<h1>Sandbox webhook receiver</h1><p>{len(messages)} message(s) received (newest first; "
        "this page refreshes every 5 s).</p>" + (rows or "<p>Nothing yet.</p>") + "</body></html>"
    )
    return HTMLResponse(page)


ROUTES = [
    Route("/sandbox/webhooks", receive, methods=["POST"]),
    Route("/sandbox/webhooks/{name:path}", receive, methods=["POST"]),
    Route("/sandbox/webhooks", show, methods=["GET"]),
]
