"""oauth2/access_token/, oauth2/revoke_token/, oauth2/advertiser/get/ and their error codes."""

from __future__ import annotations

import pytest

from sandbox.testing import obtain_auth_code

APP_ID, SECRET = "7100000000000000000", "sandbox-secret"
REDIRECT = "http://localhost:8501/api/oauth/tiktok/callback"


@pytest.fixture
def code(sandbox) -> str:
    return obtain_auth_code(sandbox.base_url, APP_ID, REDIRECT, "admin@acme.example", "sandbox-pass")


def _exchange(api, **body):
    response = api.post("oauth2/access_token/", json=body)
    assert response.status_code == 200
    return response.json()


def test_exchange_returns_token_advertisers_and_scope(sandbox, api, code) -> None:
    answer = _exchange(api, app_id=APP_ID, secret=SECRET, auth_code=code)
    assert (answer["code"], answer["message"]) == (0, "OK")
    data = answer["data"]
    assert set(data) == {"access_token", "advertiser_ids", "scope"}  # no refresh_token, no expires_in
    assert data["advertiser_ids"]
    assert all(isinstance(a, str) for a in data["advertiser_ids"])
    assert all(isinstance(s, int) for s in data["scope"])
    assert sandbox.world.token(data["access_token"]).user_id == sandbox.world.accounts["admin@acme.example"]


def test_exchange_without_advertiser_ids(api, code) -> None:
    data = _exchange(api, app_id=APP_ID, secret=SECRET, auth_code=code, return_advertiser_ids=False)["data"]
    assert "advertiser_ids" not in data
    assert data["access_token"]


def test_code_reuse_is_refused(api, code) -> None:
    assert _exchange(api, app_id=APP_ID, secret=SECRET, auth_code=code)["code"] == 0
    again = _exchange(api, app_id=APP_ID, secret=SECRET, auth_code=code)
    assert (again["code"], again["data"]) == (40110, {})


def test_unknown_code_is_refused(api) -> None:
    assert _exchange(api, app_id=APP_ID, secret=SECRET, auth_code="deadbeef")["code"] == 40110


def test_expired_code_is_refused(sandbox, api, code) -> None:
    world = sandbox.world
    real_clock = world.clock
    world.clock = lambda: real_clock() + 3601
    try:
        answer = _exchange(api, app_id=APP_ID, secret=SECRET, auth_code=code)
    finally:
        world.clock = real_clock
    assert answer["code"] == 40110
    assert "expired" in answer["message"]


@pytest.mark.parametrize("missing", ["app_id", "secret", "auth_code"])
def test_missing_field_is_40002(api, missing) -> None:
    body = {"app_id": APP_ID, "secret": SECRET, "auth_code": "x"}
    del body[missing]
    answer = _exchange(api, **body)
    assert answer["code"] == 40002
    assert missing in answer["message"]


def test_wrong_secret_is_40101(api, code) -> None:
    assert _exchange(api, app_id=APP_ID, secret="nope", auth_code=code)["code"] == 40101


def test_unknown_app_is_40113(api, code) -> None:
    assert _exchange(api, app_id="7999999999999999999", secret=SECRET, auth_code=code)["code"] == 40113


def test_invalid_json_body_is_40002(api) -> None:
    response = api.post("oauth2/access_token/", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.json()["code"] == 40002


def test_revoke_then_every_call_is_40105(sandbox, api, get) -> None:
    token = sandbox.world.issue_token("admin@acme.example")
    answer = api.post("oauth2/revoke_token/", json={"app_id": APP_ID, "secret": SECRET, "access_token": token})
    assert answer.json()["code"] == 0
    assert answer.json()["data"]["app_id"] == APP_ID
    assert answer.json()["data"]["advertiser_ids"]
    refused = get("bc/get/", token)
    assert (refused["code"], refused["message"]) == (40105, "Access token is incorrect or has been revoked.")


def test_revoke_unknown_token_is_40105(api) -> None:
    answer = api.post("oauth2/revoke_token/", json={"app_id": APP_ID, "secret": SECRET, "access_token": "x"})
    assert answer.json()["code"] == 40105


def test_revoke_with_wrong_secret_is_40101(sandbox, api) -> None:
    token = sandbox.world.issue_token("admin@acme.example")
    answer = api.post("oauth2/revoke_token/", json={"app_id": APP_ID, "secret": "bad", "access_token": token})
    assert answer.json()["code"] == 40101
    assert sandbox.world.token(token) is not None


def test_advertiser_get_lists_the_admins_advertisers(sandbox, get) -> None:
    token = sandbox.world.issue_token("admin@acme.example")
    answer = get("oauth2/advertiser/get/", token, app_id=APP_ID, secret=SECRET)
    assert answer["code"] == 0
    ids = {a["advertiser_id"] for a in answer["data"]["list"]}
    customer = sandbox.world.bcs[sandbox.world.customer_bc_id]
    own = {a for a in customer.asset_ids if sandbox.world.assets[a].asset_type == "ADVERTISER"}
    assert own <= ids
    assert all(set(item) == {"advertiser_id", "advertiser_name"} for item in answer["data"]["list"])


def test_advertiser_get_of_a_standard_member_lists_assigned_ones(sandbox, get) -> None:
    token = sandbox.world.issue_token("analyst@acme.example")
    rows = get("oauth2/advertiser/get/", token, app_id=APP_ID, secret=SECRET)["data"]["list"]
    assert len(rows) == 2


def test_advertiser_get_errors(sandbox, get) -> None:
    token = sandbox.world.issue_token("admin@acme.example")
    missing = get("oauth2/advertiser/get/", app_id=APP_ID, secret=SECRET)
    assert (missing["code"], missing["message"]) == (
        40104,
        "Access token is null, you should set it in http header with key Access-Token.",
    )
    assert get("oauth2/advertiser/get/", "bogus", app_id=APP_ID, secret=SECRET)["code"] == 40105
    assert get("oauth2/advertiser/get/", token, app_id=APP_ID)["code"] == 40002
    assert get("oauth2/advertiser/get/", token, app_id=APP_ID, secret="bad")["code"] == 40101
    assert get("oauth2/advertiser/get/", token, app_id="7999999999999999999", secret=SECRET)["code"] == 40113


def test_user_info_names_the_token_user_with_a_masked_email_until_revoked(sandbox, api) -> None:
    token = sandbox.world.issue_token("admin@acme.example")
    answer = api.get("user/info/", headers={"Access-Token": token}).json()
    assert answer["code"] == 0
    assert answer["data"]["email"] == "a***n@acme.example"
    assert answer["data"]["display_name"] == "Avery Chen"
    assert answer["data"]["core_user_id"] == sandbox.world.accounts["admin@acme.example"]
    revoked = api.post("oauth2/revoke_token/", json={"app_id": APP_ID, "secret": SECRET, "access_token": token})
    assert revoked.json()["code"] == 0
    assert api.get("user/info/", headers={"Access-Token": token}).json()["code"] == 40105
    assert api.get("user/info/").json()["code"] == 40104
