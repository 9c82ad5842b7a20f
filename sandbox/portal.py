"""The authorization portal: `GET /portal/auth?app_id&state&redirect_uri`, its login and consent forms.

Flow: the app and the exact registered redirect URI are checked (an error page otherwise). Without a
portal session cookie the login page is shown; its form posts to `/portal/login?<same query>`, which sets
the HttpOnly session cookie and redirects back to `/portal/auth?<same query>`. The consent page posts to
`/portal/auth?<same query>`: Confirm redirects (302) to `redirect_uri?auth_code=X&code=X&state=S` with a
single-use code valid for one hour; Cancel redirects to `redirect_uri?state=S&error=access_denied`.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox import pages
from sandbox.state import SandboxState
from sandbox.world import World

COOKIE = "tt_portal_sessionid"


class PortalError(Exception):
    """An invalid authorization request (unknown app, unregistered redirect URI)."""


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox  # Starlette's app.state is untyped
    return state


def _check_request(world: World, request: Request) -> tuple[str, str]:
    """(redirect_uri, state) of a valid request; PortalError otherwise."""
    app_id = request.query_params.get("app_id", "")
    redirect_uri = request.query_params.get("redirect_uri", "")
    if not app_id or app_id != world.app.app_id:
        raise PortalError("The app does not exist or has been blocked (invalid app_id).")
    if redirect_uri not in world.app.redirect_uris:
        raise PortalError("The redirect_uri does not match any redirect URL registered for this app.")
    return redirect_uri, request.query_params.get("state", "")


def _query(request: Request) -> str:
    return request.url.query


def _with_params(uri: str, params: list[tuple[str, str]]) -> str:
    parts = urlsplit(uri)
    extra = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


async def _form(request: Request) -> dict[str, str]:
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _error(message: str) -> Response:
    return HTMLResponse(pages.error_page(message), 400)


async def auth(request: Request) -> Response:
    """GET /portal/auth: login page without a session, else the consent page."""
    world = _state(request).world
    try:
        _check_request(world, request)
    except PortalError as error:
        return _error(str(error))
    session = world.session(request.cookies.get(COOKIE))
    if session is None:
        return HTMLResponse(pages.login_page(f"/portal/login?{_query(request)}"))
    name, email = world.account(session.user_id) or ("", "")
    switch = "/portal/logout?" + urlencode({"next": f"/portal/auth?{_query(request)}"})
    return HTMLResponse(
        pages.consent_page(
            f"/portal/auth?{_query(request)}", switch, world.app.app_name, world.app.app_id, name, email, session.csrf
        )
    )


async def login(request: Request) -> Response:
    """POST /portal/login: checks e-mail and password, opens a session, back to the consent page."""
    world = _state(request).world
    try:
        _check_request(world, request)
    except PortalError as error:
        return _error(str(error))
    form = await _form(request)
    email = form.get("email", "").strip()
    user_id = world.authenticate(email, form.get("password", ""))
    if user_id is None:
        page = pages.login_page(f"/portal/login?{_query(request)}", email, "Incorrect email or password.")
        return HTMLResponse(page)
    response = RedirectResponse(f"/portal/auth?{_query(request)}", 303)
    response.set_cookie(COOKIE, world.open_session(user_id), httponly=True, samesite="lax", path="/portal")
    return response


async def decide(request: Request) -> Response:
    """POST /portal/auth: Confirm issues an auth code, Cancel denies; both redirect to redirect_uri."""
    world = _state(request).world
    try:
        redirect_uri, state = _check_request(world, request)
    except PortalError as error:
        return _error(str(error))
    session = world.session(request.cookies.get(COOKIE))
    if session is None:
        return RedirectResponse(f"/portal/auth?{_query(request)}", 303)
    form = await _form(request)
    if not secrets.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
        return _error("The form has expired. Please reload the page and try again.")
    state_param = [("state", state)] if state else []
    if form.get("decision") != "confirm":
        # INFERRED: TikTok documents no denial parameters; the sandbox sends OAuth's usual error=access_denied.
        return RedirectResponse(_with_params(redirect_uri, [*state_param, ("error", "access_denied")]), 302)
    code = world.issue_auth_code(session.user_id, world.app.app_id, redirect_uri)
    return RedirectResponse(_with_params(redirect_uri, [("auth_code", code), ("code", code), *state_param]), 302)


async def logout(request: Request) -> Response:
    """GET /portal/logout?next=/portal/...: ends the portal session (to switch sandbox accounts)."""
    _state(request).world.close_session(request.cookies.get(COOKIE))
    target = request.query_params.get("next", "")
    if target.startswith("/portal/") and not target.startswith("//"):
        response: Response = RedirectResponse(target, 303)
    else:
        response = HTMLResponse(pages.message_page("Logged out", "You have been logged out."))
    response.delete_cookie(COOKIE, path="/portal")
    return response


ROUTES = [
    Route("/portal/auth", auth, methods=["GET"]),
    Route("/portal/auth", decide, methods=["POST"]),
    Route("/portal/login", login, methods=["POST"]),
    Route("/portal/logout", logout, methods=["GET"]),
]
