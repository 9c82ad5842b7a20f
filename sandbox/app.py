"""create_app: the sandbox as one Starlette application (API, portal, control, world dump)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import api, control, portal, webhooks
from sandbox.config import SandboxConfig
from sandbox.envelope import not_found
from sandbox.state import SandboxState
from sandbox.world import World

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


async def _not_found(_request: Request, _exc: Exception) -> Response:
    return not_found()


def create_app(world: World, config: SandboxConfig) -> Starlette:
    """The sandbox app over `world`; its state is `app.state.sandbox` (a SandboxState)."""
    routes = [
        Route("/open_api/v1.3/{path:path}", api.open_api, methods=ALL_METHODS),
        *portal.ROUTES,
        *control.ROUTES,
        *webhooks.ROUTES,
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.router.redirect_slashes = False
    app.state.sandbox = SandboxState(world, config)
    app.state.webhooks = webhooks.Inbox()  # the local alert receiver (/sandbox/webhooks)
    return app
