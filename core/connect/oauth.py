"""TikTok OAuth for Marketing API apps: authorization URL, auth_code exchange, token revocation.

The exchange goes through requests-oauthlib's `OAuth2Session.fetch_token`, with two compliance hooks
for TikTok's non-standard endpoint (wire spec §1.3):

- `access_token_request` turns oauthlib's form body (`client_id`, `client_secret`, `code`, …) into the
  JSON `{"app_id", "secret", "auth_code"}` with `Content-Type: application/json`;
- `access_token_response` unwraps the `{code, message, request_id, data}` envelope: code 0 becomes a
  standard token JSON for oauthlib (token_type "Bearer", TikTok's integer scope list, `advertiser_ids`),
  any other code raises the matching `TikTokError`; HTTP non-200 and non-JSON bodies raise `TransportError`.

Advertiser tokens do not expire and have no refresh token; extra fields a server may add (refresh_token,
expires_in) are ignored. The app secret is sent only over HTTPS, or over plain
HTTP to a loopback host (the embedded sandbox). Tokens and secrets never reach a log line: the debug
records of requests-oauthlib, which print request bodies and tokens, are dropped.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests_oauthlib import OAuth2Session

from core.tiktok import envelope
from core.tiktok.errors import TransportError

EXCHANGE_PATH = "oauth2/access_token/"
REVOKE_PATH = "oauth2/revoke_token/"
_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class TokenGrant:
    """The result of an auth_code exchange: a long-lived advertiser token and what it covers."""

    access_token: str = field(repr=False)
    advertiser_ids: list[str]
    scope: list[int]


def authorization_url(portal_auth_url: str, app_id: str, redirect_uri: str, state: str) -> str:
    """The consent page URL `portal/auth?app_id=…&state=…&redirect_uri=…` (state only if non-empty)."""
    parts = urlsplit(portal_auth_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("app_id", app_id)]
    if state:
        query.append(("state", state))
    query.append(("redirect_uri", redirect_uri))
    return urlunsplit(parts._replace(query=urlencode(query)))


def callback_params(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(code, state) from the redirect back: `auth_code`, falling back to `code`; blanks become None."""
    code = query.get("auth_code") or query.get("code") or None
    state = query.get("state") or None
    return code, state


def exchange_code(
    *, api_base_url: str, app_id: str, app_secret: str, auth_code: str, redirect_uri: str, timeout_s: float = 20
) -> TokenGrant:
    """Exchange a single-use auth_code for an access token (`POST oauth2/access_token/`).

    Raises AuthCodeError (40110), AppCredentialsError (40101/40113), InvalidRequestError (40002, …),
    or TransportError (network, timeout, HTTP non-200, non-JSON); ValueError for an empty auth_code.
    """
    if not auth_code:
        raise ValueError("auth_code is empty: the callback carried no authorization code")
    token_url = _endpoint(api_base_url, EXCHANGE_PATH)
    session = OAuth2Session(client_id=app_id, redirect_uri=redirect_uri)
    # types-requests-oauthlib 2.0.0.20261006 lacks the "access_token_request" hook type that requests-oauthlib
    # 2.0.0 added (OAuth2Session.compliance_hook has it), so no overload matches
    session.register_compliance_hook("access_token_request", _tiktok_token_request)  # type: ignore[call-overload]
    session.register_compliance_hook("access_token_response", _tiktok_token_response(EXCHANGE_PATH))
    with session, _transport_errors(EXCHANGE_PATH):
        token = session.fetch_token(
            token_url, code=auth_code, include_client_id=True, client_secret=app_secret, timeout=timeout_s
        )
    return TokenGrant(
        access_token=token["access_token"],
        advertiser_ids=[str(i) for i in token.get("advertiser_ids") or []],
        scope=_scope_ints(token.get("scope")),
    )


def revoke_token(
    *, api_base_url: str, app_id: str, app_secret: str, access_token: str, timeout_s: float = 20
) -> list[str]:
    """Revoke a token (`POST oauth2/revoke_token/`); returns the advertiser ids it no longer reaches."""
    url = _endpoint(api_base_url, REVOKE_PATH)
    body = {"app_id": app_id, "secret": app_secret, "access_token": access_token}
    with _transport_errors(REVOKE_PATH):
        response = requests.post(
            url, data=json.dumps(body).encode(), headers=_JSON_HEADERS, timeout=timeout_s, allow_redirects=False
        )
    data = envelope.unwrap(response.status_code, response.content, REVOKE_PATH)
    return [str(i) for i in data.get("advertiser_ids") or []]


# -- compliance hooks ------------------------------------------------------------------------------


def _tiktok_token_request(
    url: str, headers: dict[str, str], request_kwargs: dict[str, Any]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """oauthlib's form fields → TikTok's JSON body; nothing else (no grant_type, no redirect_uri)."""
    form = request_kwargs.pop("data", None) or request_kwargs.pop("params", None) or {}
    body = {
        "app_id": form.get("client_id", ""),
        "secret": form.get("client_secret", ""),
        "auth_code": form.get("code", ""),
    }
    request_kwargs["data"] = json.dumps(body).encode()
    request_kwargs["allow_redirects"] = False
    return url, {**headers, **_JSON_HEADERS}, request_kwargs


def _tiktok_token_response(path: str) -> Callable[[requests.Response], requests.Response]:
    def hook(response: requests.Response) -> requests.Response:
        data = envelope.unwrap(response.status_code, response.content, path)
        if not isinstance(data.get("access_token"), str) or not data["access_token"]:
            raise TransportError("token response without an access_token", path, http_status=200)
        token = {
            "access_token": data["access_token"],
            "token_type": "Bearer",
            "scope": [str(s) for s in _scope_ints(data.get("scope"))],
            "advertiser_ids": [str(i) for i in data.get("advertiser_ids") or []],
        }
        response._content = json.dumps(token).encode()
        response.encoding = "utf-8"
        response.headers["Content-Type"] = "application/json"
        return response

    return hook


def _scope_ints(scope: Any) -> list[int]:
    items = scope.split() if isinstance(scope, str) else list(scope or [])
    return [int(s) for s in items if str(s).lstrip("-").isdigit()]


# -- plumbing --------------------------------------------------------------------------------------


def _endpoint(api_base_url: str, path: str) -> str:
    url = api_base_url.rstrip("/") + "/" + path
    parts = urlsplit(url)
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib's switch for plain HTTP
        return url
    raise ValueError(f"refusing to send the app secret to {parts.scheme}://{parts.hostname}: HTTPS required")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def _transport_errors(path: str) -> Iterator[None]:
    """Turn requests' network failures into TransportError (without the URL or body in the message)."""
    try:
        yield
    except requests.Timeout as exc:
        raise TransportError("no response in time", path) from exc
    except requests.RequestException as exc:
        raise TransportError(f"{type(exc).__name__} while calling TikTok", path) from exc


class _DropDebug(logging.Filter):
    """requests-oauthlib logs request bodies (the app secret) and tokens at DEBUG: drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _install_log_filter() -> None:
    logger = logging.getLogger("requests_oauthlib.oauth2_session")
    if not any(isinstance(f, _DropDebug) for f in logger.filters):
        logger.addFilter(_DropDebug())


_install_log_filter()

__all__ = ["TokenGrant", "authorization_url", "callback_params", "exchange_code", "revoke_token"]
