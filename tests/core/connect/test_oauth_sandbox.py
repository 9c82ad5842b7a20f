"""OAuth against the sandbox portal and token endpoints: consent, exchange, single use, revoke."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.connect.oauth import TokenGrant, authorization_url, exchange_code, revoke_token
from core.tiktok.client import TikTokClient
from core.tiktok.errors import (
    AppCredentialsError,
    AuthCodeError,
    InvalidRequestError,
    TokenRejectedError,
    TransportError,
)
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.transport import ClientConfig
from sandbox.server import SandboxServer
from sandbox.testing import obtain_auth_code

ADMIN = "admin@acme.example"
PASSWORD = "sandbox-pass"


def redirect_uri(server: SandboxServer) -> str:
    return server.config.redirect_uris[0]


def auth_code(server: SandboxServer, email: str = ADMIN) -> str:
    return obtain_auth_code(server.base_url, server.config.app_id, redirect_uri(server), email, PASSWORD)


def exchange(server: SandboxServer, code: str, **overrides: Any) -> TokenGrant:
    args = {
        "api_base_url": server.api_base_url,
        "app_id": server.config.app_id,
        "app_secret": server.config.app_secret,
        "auth_code": code,
        "redirect_uri": redirect_uri(server),
        "timeout_s": 5,
        **overrides,
    }
    return exchange_code(**args)


def bcs_with(server: SandboxServer, token: str) -> list[dict]:
    config = ClientConfig(server.api_base_url, server.config.app_id, server.config.app_secret, max_attempts=1)

    async def go() -> list[dict]:
        async with TikTokClient(config, TokenBucket(1000)) as client:
            return await client.get_bcs(token)

    return asyncio.run(go())


def test_authorization_url_opens_the_sandbox_portal(sandbox: SandboxServer) -> None:
    url = authorization_url(sandbox.portal_auth_url, sandbox.config.app_id, redirect_uri(sandbox), "st-1")
    page = httpx.get(url, timeout=5)
    assert page.status_code == 200
    assert '<form method="post"' in page.text


def test_exchange_gives_a_working_token(sandbox: SandboxServer) -> None:
    world = httpx.get(sandbox.base_url + "/sandbox/world", timeout=5).json()
    grant = exchange(sandbox, auth_code(sandbox))
    assert grant.scope == [4, 5, 11]
    assert grant.advertiser_ids
    assert all(isinstance(i, str) for i in grant.advertiser_ids)
    assert grant.access_token not in repr(grant)
    bcs = bcs_with(sandbox, grant.access_token)
    assert [b["bc_info"]["bc_id"] for b in bcs] == [world["customer"]["bc_id"]]


def test_an_auth_code_works_once(sandbox: SandboxServer) -> None:
    code = auth_code(sandbox)
    exchange(sandbox, code)
    with pytest.raises(AuthCodeError) as info:
        exchange(sandbox, code)
    assert (info.value.code, info.value.path) == (40110, "oauth2/access_token/")


def test_unknown_auth_code_is_40110(sandbox: SandboxServer) -> None:
    with pytest.raises(AuthCodeError):
        exchange(sandbox, "not-a-code")


def test_wrong_secret_is_40101_and_keeps_the_code_usable(sandbox: SandboxServer) -> None:
    code = auth_code(sandbox)
    with pytest.raises(AppCredentialsError) as info:
        exchange(sandbox, code, app_secret="wrong-secret")
    assert info.value.code == 40101
    assert "wrong-secret" not in str(info.value)
    assert exchange(sandbox, code).access_token


def test_unknown_app_is_40113(sandbox: SandboxServer) -> None:
    with pytest.raises(AppCredentialsError) as info:
        exchange(sandbox, auth_code(sandbox), app_id="7199999999999999999")
    assert info.value.code == 40113


def test_empty_auth_code_is_refused_before_calling_tiktok(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="auth_code is empty"):
        exchange(sandbox, "")


def test_parameter_error_is_40002(sandbox: SandboxServer) -> None:
    httpx.post(
        sandbox.base_url + "/sandbox/control/faults",
        json={"route": "oauth2/access_token/", "code": 40002, "message": "auth_code: Missing data."},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(InvalidRequestError) as info:
        exchange(sandbox, auth_code(sandbox))
    assert (info.value.code, info.value.message) == (40002, "auth_code: Missing data.")


@pytest.mark.parametrize("fault", [{"http_status": 502}, {"malformed": True}], ids=["http502", "malformed"])
def test_exchange_transport_faults(sandbox: SandboxServer, fault: dict[str, Any]) -> None:
    code = auth_code(sandbox)
    httpx.post(
        sandbox.base_url + "/sandbox/control/faults", json={"route": "oauth2/access_token/", **fault}, timeout=5
    ).raise_for_status()
    with pytest.raises(TransportError):
        exchange(sandbox, code)
    assert exchange(sandbox, code).access_token  # the fault hit before the code was redeemed


def test_exchange_times_out(sandbox: SandboxServer) -> None:
    httpx.post(
        sandbox.base_url + "/sandbox/control/faults",
        json={"route": "oauth2/access_token/", "hang_seconds": 1.5},
        timeout=5,
    ).raise_for_status()
    with pytest.raises(TransportError, match="no response in time"):
        exchange(sandbox, auth_code(sandbox), timeout_s=0.3)


def test_revoke_then_every_call_is_40105(sandbox: SandboxServer) -> None:
    grant = exchange(sandbox, auth_code(sandbox))
    revoked = revoke_token(
        api_base_url=sandbox.api_base_url,
        app_id=sandbox.config.app_id,
        app_secret=sandbox.config.app_secret,
        access_token=grant.access_token,
        timeout_s=5,
    )
    assert sorted(revoked) == sorted(grant.advertiser_ids)
    with pytest.raises(TokenRejectedError) as info:
        bcs_with(sandbox, grant.access_token)
    assert info.value.code == 40105
    with pytest.raises(TokenRejectedError):
        revoke_token(
            api_base_url=sandbox.api_base_url,
            app_id=sandbox.config.app_id,
            app_secret=sandbox.config.app_secret,
            access_token=grant.access_token,
            timeout_s=5,
        )
