"""The OAuth round trip shared by the customer BC integration and the partner wizard.

`start` mints a single-use `state` bound to the user, purpose and partner (stored hashed, 10 minutes);
the browser opens `/api/oauth/tiktok/start`, which binds the flow to that browser with a cookie and
redirects to TikTok; TikTok redirects to `/api/oauth/tiktok/callback`, which calls `finish_callback`.
Every failure ends the flow `failed` with a sentence that says what to do, and stores nothing; a refusal
after the code exchange also revokes the token TikTok issued, so nothing is left at TikTok either. An
unexpected error ends the flow `failed` with a reference that is in the log line of its traceback and in
the audit log. Refusals name the TikTok account that answered (`user/info/`), because TikTok offers the
last account that logged in, which is often not the monitor account.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from core.accounts import connection, integration, partners, tokens
from core.connect import oauth_flows, workspace
from core.connect.oauth import TokenGrant, authorization_url, callback_params, exchange_code, revoke_token
from core.connect.oauth_flows import Flow, FlowError
from core.errors import UserError, new_reference
from core.security import audit
from core.security.roles import ADMIN, Actor, require_admin
from core.services import Services
from core.sync import check_for_updates, member_write
from core.tasks.jobs import TRIGGER_CONNECT
from core.tiktok.client import run_sync
from core.tiktok.errors import (
    AppCredentialsError,
    AuthCodeError,
    TikTokError,
    TransportError,
)
from core.tiktok.shapes import JSONObject

log = logging.getLogger(__name__)

CUSTOMER = "customer"
PARTNER = "partner"
START_PATH = "/api/oauth/tiktok/start"
CALLBACK_PATH = "/api/oauth/tiktok/callback"
BINDING_COOKIE = "pw_oauth_binding"


class ConnectError(UserError):
    """A user-facing reason the connection failed."""


@dataclass(frozen=True)
class Started:
    flow: Flow
    start_url: str  # relative URL of the start route; opens TikTok in the pop-up


@dataclass(frozen=True)
class Outcome:
    ok: bool
    title: str
    message: str
    flow_id: str | None = None


def start(services: Services, actor: Actor, *, purpose: str, partner_bc_id: str | None = None) -> Started:
    require_admin(actor, "connect a TikTok Business Center")
    if purpose == PARTNER:
        _require_connectable(services, partner_bc_id)
    flow, state = oauth_flows.begin(services.store, purpose=purpose, initiator=actor.email, partner_bc_id=partner_bc_id)
    return Started(flow=flow, start_url=f"{START_PATH}?{urlencode({'state': state})}")


def _require_connectable(services: Services, partner_bc_id: str | None) -> None:
    partner = partners.get(services.store, partner_bc_id or "")
    if partner is None:
        raise ConnectError("This partner is not in your partner list: run Check for updates, then retry.")
    if not partner.eligible:
        raise ConnectError(
            f"{partner.name} is {partners.NOT_ELIGIBLE}: you can only add a native partner if you "
            "have shared at least one asset with a partner or vice versa."
        )


def binding_for(services: Services, flow_id: str) -> str:
    """The cookie value that ties a flow to the browser that started it."""
    key = (services.settings.api_token or services.settings.app_secret).encode()
    return hmac.new(key, flow_id.encode(), hashlib.sha256).hexdigest()


def redirect_for_start(services: Services, state: str | None) -> tuple[str, str]:
    """(TikTok authorization URL, binding cookie) for a pending flow; raises FlowError otherwise."""
    flow = oauth_flows.peek(services.store, state)
    s = services.settings
    return authorization_url(s.portal_auth_url, s.app_id, s.redirect_uri, state or ""), binding_for(
        services, flow.flow_id
    )


# (services, flow, access token, who answered) → success message; ConnectError to refuse
PurposeHandler = Callable[[Services, Flow, str, str], str]
SWITCH_ACCOUNT = (
    "TikTok offers the account that last logged in: start again, and on TikTok's App Authorization "
    "page in the pop-up click Switch account (log out), log in as the partner's monitor account "
    "(its credentials are in the credential vault), then click Confirm."
)


def _connect_customer(services: Services, flow: Flow, access_token: str, who: str) -> str:
    async def read_bcs() -> list[JSONObject]:
        async with services.client() as client:
            return await client.get_bcs(access_token)

    bcs = run_sync(read_bcs())
    try:
        current = integration.connect(
            services.store, services.box, access_token=access_token, bcs=bcs, actor=flow.initiator
        )
    except integration.IntegrationError as exc:
        raise ConnectError(str(exc)) from exc
    if current.bc_id:
        return f"Connected your Business Center {current.bc_name} ({current.bc_id})."
    return "Connected. Your account administers several Business Centers: choose one in Settings."


def _connect_partner(services: Services, flow: Flow, access_token: str, who: str) -> str:
    """Check the monitor account's token reaches this partner's BC as ADMIN, then store it."""
    partner = partners.get(services.store, flow.partner_bc_id or "")
    if partner is None:
        raise ConnectError("This partner is no longer in your partner list: run Check for updates, then retry.")

    async def read_bcs() -> list[JSONObject]:
        async with services.client() as client:
            return await client.get_bcs(access_token)

    bcs = run_sync(read_bcs())
    match = next((bc for bc in bcs if str(bc.get("bc_info", {}).get("bc_id")) == partner.bc_id), None)
    if match is None:
        raise ConnectError(
            f"TikTok signed in as {who}, which is not a member of {partner.name}'s Business Center "
            f"({partner.bc_id}). Sign in with the partner's monitor account. {SWITCH_ACCOUNT}"
        )
    if match.get("user_role") != "ADMIN":
        raise ConnectError(
            f"TikTok signed in as {who}, which is only {str(match.get('user_role', 'STANDARD')).title()} on "
            f"{partner.name}'s Business Center: the monitor account needs the Admin role. If {who} is the monitor "
            "account, ask the partner to make it an Admin, then connect again; if not, sign in with the monitor "
            f"account. {SWITCH_ACCOUNT}"
        )
    with services.store.write() as cur:
        if partner.token_id is not None:
            tokens.delete(cur, partner.token_id)
        token_id = tokens.save(
            cur, services.box, purpose="partner", bc_id=partner.bc_id, access_token=access_token, actor=flow.initiator
        )
        connection.connected(cur, partner.bc_id, token_id)
    return f"{partner.name} is connected. The first Check for updates for this partner has started."


HANDLERS: dict[str, PurposeHandler] = {CUSTOMER: _connect_customer, PARTNER: _connect_partner}


def finish_callback(services: Services, query: Mapping[str, str], binding: str | None) -> Outcome:
    """Validate and complete an OAuth callback. Never raises; never stores anything on failure."""
    code, state = callback_params(query)
    try:
        flow = oauth_flows.consume(services.store, state)
    except FlowError as exc:
        audit.record(
            services.store, actor="unknown", action="oauth.callback", target="-", outcome="refused", detail=exc.reason
        )
        return Outcome(False, "This sign-in link is no longer valid", str(exc))
    except Exception as exc:  # the pop-up must end on a page that says what happened
        return unexpected(services, None, exc)
    try:
        outcome = _complete(services, flow, code, query, binding)
        oauth_flows.finish(services.store, flow.flow_id, ok=outcome.ok, error=None if outcome.ok else outcome.message)
        audit.record(
            services.store,
            actor=flow.initiator,
            action=f"connect.{flow.purpose}",
            target=_target(flow),
            outcome="ok" if outcome.ok else "failed",
            detail="" if outcome.ok else outcome.message,
        )
    except Exception as exc:  # never "Waiting for TikTok…" forever: the flow fails, with a reference
        return unexpected(services, flow, exc)
    if outcome.ok and flow.purpose == PARTNER:
        check_for_updates.request(
            services, actor=Actor(flow.initiator, ADMIN), trigger=TRIGGER_CONNECT, partner_bc_id=flow.partner_bc_id
        )
    return outcome


def _target(flow: Flow) -> str:
    return flow.partner_bc_id or "customer BC"


def unexpected(services: Services | None, flow: Flow | None, exc: BaseException) -> Outcome:
    """An error nobody planned for: log it with a reference, fail the flow, audit it; never raises."""
    ref = new_reference()
    log.error("OAuth callback failed unexpectedly (reference %s)", ref, exc_info=exc)
    message = (
        f"PartnerWatch hit an unexpected error and did not finish this connection (reference {ref}). "
        "Start again; if it happens again, give this reference to whoever runs PartnerWatch."
    )
    if services is not None:
        if flow is not None:
            _quietly(ref, oauth_flows.finish, services.store, flow.flow_id, ok=False, error=message)
        _quietly(
            ref,
            audit.record,
            services.store,
            actor=flow.initiator if flow else "unknown",
            action=f"connect.{flow.purpose}" if flow else "oauth.callback",
            target=_target(flow) if flow else "-",
            outcome="failed",
            detail=f"unexpected error ({type(exc).__name__}), reference {ref}",
        )
    return Outcome(False, "Something went wrong", message, flow.flow_id if flow else None)


def _quietly(ref: str, step: Callable[..., object], *args: object, **kwargs: object) -> None:
    try:
        step(*args, **kwargs)
    except Exception:
        log.exception("OAuth callback %s: could not record the failure", ref)


def _complete(
    services: Services, flow: Flow, code: str | None, query: Mapping[str, str], binding: str | None
) -> Outcome:
    fid = flow.flow_id
    if not binding or not hmac.compare_digest(binding, binding_for(services, fid)):
        return Outcome(
            False,
            "Connection refused",
            "This authorization was started in another browser or "
            "session. Start again from PartnerWatch in this browser.",
            fid,
        )
    if workspace.role_for(services.store, services.settings, flow.initiator) != ADMIN:
        return Outcome(
            False,
            "Connection refused",
            f"{flow.initiator} is no longer an admin of this workspace, and "
            "only admins can connect a Business Center. Nothing was stored.",
            fid,
        )
    if not code:
        denied = query.get("error") == "access_denied"
        reason = "You cancelled the authorization on TikTok." if denied else "TikTok sent no authorization code."
        return Outcome(False, "Not connected", f"{reason} Nothing was changed; start again when ready.", fid)
    try:
        grant = _exchange(services, code)
    except TikTokError as exc:
        return Outcome(False, "Not connected", _explain(exc), fid)
    try:
        who = _who_answered(services, flow, grant.access_token)
        message = HANDLERS[flow.purpose](services, flow, grant.access_token, who)
    except ConnectError as exc:
        return Outcome(False, "Not connected", str(exc) + _leave_nothing(services, grant.access_token), fid)
    except TikTokError as exc:
        return Outcome(False, "Not connected", _explain(exc) + _leave_nothing(services, grant.access_token), fid)
    except Exception:
        try:
            _leave_nothing(services, grant.access_token)
        except Exception:
            log.exception("could not revoke the token of a failed OAuth callback")
        raise
    return Outcome(True, "Connected", message, fid)


def _who_answered(services: Services, flow: Flow, access_token: str) -> str:
    """The TikTok account of the token ("Name (m***r@example.com)"), recorded on the flow; a stand-in
    sentence when TikTok does not say."""

    async def read() -> JSONObject:
        async with services.client() as client:
            return await client.get_user_info(access_token)

    try:
        account = account_label(run_sync(read()))
    except TikTokError as exc:
        log.info("user/info/ failed (%s): the refusal cannot name the account", exc.code)
        account = None
    if account is None:
        return "the TikTok account you logged in with"
    oauth_flows.set_account(services.store, flow.flow_id, account)
    return account


def account_label(info: Mapping[str, object]) -> str | None:
    name, email = str(info.get("display_name") or "").strip(), str(info.get("email") or "").strip()
    if name and email and name != email:
        return f"{name} ({email})"
    return name or email or None


def _leave_nothing(services: Services, access_token: str) -> str:
    """Revoke at TikTok the token a refused attempt obtained; returns the sentence that says so."""
    if tokens.in_use(services.store, services.box, access_token):
        return " Nothing was stored; TikTok returned a token PartnerWatch already uses, so it was kept."
    refused = _revoke(services, access_token)
    if refused is not None:
        return (
            " Nothing was stored here, but TikTok did not confirm that it revoked the token this attempt "
            f"obtained ({refused.code}: {refused.message})."
        )
    return " Nothing was stored, and PartnerWatch revoked at TikTok the token this attempt obtained."


def _exchange(services: Services, code: str) -> TokenGrant:
    s = services.settings
    return exchange_code(
        api_base_url=s.api_base_url,
        app_id=s.app_id,
        app_secret=s.app_secret,
        auth_code=code,
        redirect_uri=s.redirect_uri,
        timeout_s=s.http_timeout_s,
    )


def _explain(exc: TikTokError) -> str:
    if isinstance(exc, AuthCodeError):
        return (
            f"TikTok refused the authorization code ({exc.code}): it was already used or has expired. "
            "Start the connection again."
        )
    if isinstance(exc, AppCredentialsError):
        return (
            f"TikTok refused PartnerWatch's app credentials ({exc.code}). An admin must check the app id "
            "and secret in the configuration."
        )
    if isinstance(exc, TransportError):
        return f"TikTok could not be reached ({exc.message}). Nothing was changed; try again in a moment."
    return f"TikTok answered with an error ({exc.code}: {exc.message}). Nothing was changed."


def choose_customer_bc(services: Services, actor: Actor, bc_id: str) -> integration.Integration:
    """Pick which of the connected account's Business Centers to monitor (admins; audited)."""
    require_admin(actor, "choose the Business Center to monitor")
    current = integration.choose_bc(services.store, bc_id, actor=actor.email)
    audit.record(
        services.store,
        actor=actor.email,
        action="settings.customer_bc",
        target=bc_id,
        outcome="ok",
        detail=current.bc_name or "",
    )
    return current


def _revoke_at_tiktok(services: Services, token: str | None) -> str:
    """Revoke a token at TikTok; returns "" or a note for the user when TikTok did not confirm it."""
    if not token:
        return ""
    exc = _revoke(services, token)
    if exc is not None:
        return f" TikTok did not confirm the revocation ({exc.code}: {exc.message}); the token was deleted here."
    return ""


def _revoke(services: Services, token: str) -> TikTokError | None:
    """Revoke a token at TikTok; the error when TikTok did not confirm it."""
    s = services.settings
    try:
        revoke_token(
            api_base_url=s.api_base_url,
            app_id=s.app_id,
            app_secret=s.app_secret,
            access_token=token,
            timeout_s=s.http_timeout_s,
        )
    except TikTokError as exc:
        return exc
    return None


def disconnect_customer(services: Services, actor: Actor) -> str:
    """Revoke the customer token at TikTok, then forget it. Returns a sentence for the user."""
    require_admin(actor, "disconnect the Business Center")
    token = integration.access_token(services.store, services.box)
    note = _revoke_at_tiktok(services, token)
    integration.disconnect(services.store)
    audit.record(
        services.store,
        actor=actor.email,
        action="disconnect.customer",
        target="customer BC",
        outcome="ok",
        detail=note.strip(),
    )
    return "Disconnected your Business Center. Synced history is kept." + note


def disconnect_partner(services: Services, actor: Actor, bc_id: str) -> str:
    """Revoke a partner's token at TikTok, delete it, mark the partner `Disconnected` and its members not
    current; synced history stays. Returns a sentence for the user."""
    require_admin(actor, "disconnect a partner token")
    partner = partners.get(services.store, bc_id)
    if partner is None:
        raise ConnectError("This partner is not in your partner list: run Check for updates.")
    if services.runner.active_task(check_for_updates.DEDUPE_KEY) is not None:  # it could write members after us
        raise ConnectError("A Check for updates is running: disconnect the token once it has finished.")
    token = tokens.load(services.store, services.box, partner.token_id)
    note = _revoke_at_tiktok(services, token)
    now = datetime.now(UTC)
    with services.store.write() as cur:
        if partner.token_id is not None:
            tokens.delete(cur, partner.token_id)
        connection.disconnected(cur, bc_id)
        member_write.remove_partner(cur, bc_id, now)
    audit.record(
        services.store, actor=actor.email, action="disconnect.partner", target=bc_id, outcome="ok", detail=note.strip()
    )
    return f"Disconnected {partner.name}. Synced history is kept; connect it again from the Connect page." + note
