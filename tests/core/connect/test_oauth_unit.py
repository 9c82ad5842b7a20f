"""core.connect.oauth without the sandbox: URL building, callback parsing, and the exchange against a canned server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from core.connect.oauth import TokenGrant, authorization_url, callback_params, exchange_code, revoke_token
from core.tiktok.errors import (
    AppCredentialsError,
    AuthCodeError,
    InvalidRequestError,
    TikTokError,
    TokenRejectedError,
    TransportError,
)

SECRET = "app-secret-123"


class Canned:
    """A loopback HTTP server answering every POST with `status`/`body`; records path, headers and body."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b"{}"
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                canned.seen.append((self.path, dict(self.headers), self.rfile.read(length)))
                self.send_response(canned.status)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/open_api/v1.3/"

    def answer(self, code: int, data: dict | None = None, message: str = "OK", status: int = 200) -> None:
        self.status = status
        self.body = json.dumps({"code": code, "message": message, "request_id": "rid-1", "data": data or {}}).encode()


@pytest.fixture
def canned() -> Iterator[Canned]:
    server = Canned()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def exchange(base: str, code: str = "auth-code-1") -> TokenGrant:
    return exchange_code(
        api_base_url=base,
        app_id="7100000000000000000",
        app_secret=SECRET,
        auth_code=code,
        redirect_uri="http://localhost:8501/api/oauth/tiktok/callback",
        timeout_s=5,
    )


def test_authorization_url_has_app_id_state_and_encoded_redirect() -> None:
    url = authorization_url(
        "https://business-api.tiktok.com/portal/auth", "7100", "http://localhost:8501/cb?x=1", "st ate"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "business-api.tiktok.com", "/portal/auth")
    assert parse_qsl(parts.query) == [
        ("app_id", "7100"),
        ("state", "st ate"),
        ("redirect_uri", "http://localhost:8501/cb?x=1"),
    ]
    assert "redirect_uri=http%3A%2F%2Flocalhost%3A8501%2Fcb%3Fx%3D1" in url


def test_authorization_url_omits_empty_state_and_keeps_existing_query() -> None:
    url = authorization_url("http://127.0.0.1:9100/portal/auth?lang=en", "7100", "http://h/cb", "")
    assert parse_qsl(urlsplit(url).query) == [("lang", "en"), ("app_id", "7100"), ("redirect_uri", "http://h/cb")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"auth_code": "A", "code": "A", "state": "S"}, ("A", "S")),
        ({"code": "C", "state": "S"}, ("C", "S")),
        ({"auth_code": "", "code": "C"}, ("C", None)),
        ({"state": ""}, (None, None)),
    ],
)
def test_callback_params(query: dict[str, str], expected: tuple[str | None, str | None]) -> None:
    assert callback_params(query) == expected


def test_exchange_sends_tiktok_json_and_returns_the_grant(canned: Canned, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    canned.answer(
        0,
        {
            "access_token": "tok-XYZ",
            "advertiser_ids": ["7000000000000000001", 7000000000000000002],
            "scope": [4, 5, 11],
        },
    )
    grant = exchange(canned.base)
    assert grant == TokenGrant("tok-XYZ", ["7000000000000000001", "7000000000000000002"], [4, 5, 11])
    path, headers, body = canned.seen[0]
    assert path == "/open_api/v1.3/oauth2/access_token/"
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers
    assert json.loads(body) == {"app_id": "7100000000000000000", "secret": SECRET, "auth_code": "auth-code-1"}
    assert "tok-XYZ" not in repr(grant)
    assert SECRET not in caplog.text
    assert "tok-XYZ" not in caplog.text


def test_exchange_tolerates_refresh_token_and_expiry(canned: Canned) -> None:
    canned.answer(
        0,
        {
            "access_token": "t",
            "advertiser_ids": [],
            "scope": [],
            "refresh_token": "r",
            "expires_in": 86400,
            "token_type": "bearer",
            "open_id": "o",
        },
    )
    assert exchange(canned.base) == TokenGrant("t", [], [])


@pytest.mark.parametrize(
    ("code", "cls"),
    [(40110, AuthCodeError), (40101, AppCredentialsError), (40113, AppCredentialsError), (40002, InvalidRequestError)],
)
def test_exchange_errors(canned: Canned, code: int, cls: type[TikTokError]) -> None:
    canned.answer(code, message="The auth_code is canceled.")
    with pytest.raises(cls) as info:
        exchange(canned.base)
    assert (info.value.code, info.value.request_id, info.value.path) == (code, "rid-1", "oauth2/access_token/")


@pytest.mark.parametrize(
    ("status", "body", "needle"),
    [
        (502, b"<html>Bad Gateway</html>", "HTTP 502"),
        (200, b"not json", "non-JSON"),
        (200, b'{"code":0,"message":"OK","data":{"advertiser_ids":[]}}', "without an access_token"),
    ],
)
def test_exchange_transport_failures(canned: Canned, status: int, body: bytes, needle: str) -> None:
    canned.status, canned.body = status, body
    with pytest.raises(TransportError, match=needle):
        exchange(canned.base)


def test_exchange_with_nothing_listening_is_a_transport_error(canned: Canned) -> None:
    base = canned.base
    canned.server.shutdown()
    canned.server.server_close()
    with pytest.raises(TransportError, match="ConnectionError") as info:
        exchange(base)
    assert SECRET not in str(info.value)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ValueError, match="HTTPS required"):
        exchange("http://business-api.example.com/open_api/v1.3/")


def test_revoke_returns_advertisers_and_maps_errors(canned: Canned) -> None:
    canned.answer(0, {"app_id": "7100000000000000000", "advertiser_ids": [7000000000000000001]})
    ids = revoke_token(api_base_url=canned.base, app_id="7100000000000000000", app_secret=SECRET, access_token="tok-1")
    assert ids == ["7000000000000000001"]
    path, headers, body = canned.seen[0]
    assert path == "/open_api/v1.3/oauth2/revoke_token/"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"app_id": "7100000000000000000", "secret": SECRET, "access_token": "tok-1"}
    canned.answer(40105, message="Access token is incorrect or has been revoked.")
    with pytest.raises(TokenRejectedError):
        revoke_token(api_base_url=canned.base, app_id="7100000000000000000", app_secret=SECRET, access_token="tok-1")
