"""Run in a fresh interpreter by test_startup_imports.py: start the app the way `streamlit run` does (import
the routes module, run its lifespan), then serve one OAuth callback in a worker thread, and report which
modules were loaded at start-up and which the callback had to import itself.

Protocol: prints `STATE <state>` once the flow is started, reads the auth code from stdin, prints one JSON
line `RESULT {...}` and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from urllib.parse import parse_qs, urlencode, urlparse

WATCHED = ("httpx", "httpcore", "h11", "anyio", "requests", "requests_oauthlib", "oauthlib")


def main() -> None:
    from ui import routes  # what `streamlit_app.py` imports

    async def start_and_stop() -> None:
        async with routes.lifespan(None):
            pass

    asyncio.run(start_and_stop())
    at_startup = {name: name in sys.modules for name in WATCHED}

    from core import services as core_services
    from core.connect import connections
    from core.security.roles import ADMIN, Actor

    svc = core_services.get()
    started = connections.start(svc, Actor("admin@partnerwatch.local", ADMIN), purpose=connections.CUSTOMER)
    state = parse_qs(urlparse(started.start_url).query)["state"][0]
    print("STATE", state, flush=True)
    code = sys.stdin.readline().strip()

    from starlette.requests import Request

    query = urlencode({"auth_code": code, "code": code, "state": state})
    cookie = f"{connections.BINDING_COOKIE}={connections.binding_for(svc, started.flow.flow_id)}"
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": connections.CALLBACK_PATH,
            "query_string": query.encode(),
            "headers": [(b"cookie", cookie.encode())],
        }
    )
    before = set(sys.modules)
    answer: dict = {}
    worker = threading.Thread(target=lambda: answer.update(status=routes.oauth_callback(request).status_code))
    worker.start()
    worker.join(120)
    imported = sorted(set(sys.modules) - before)
    print(
        "RESULT",
        json.dumps({"at_startup": at_startup, "status": answer.get("status"), "imported_by_callback": imported}),
        flush=True,
    )


if __name__ == "__main__":
    main()
