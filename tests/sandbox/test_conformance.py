"""The sandbox against TikTok's SDK definitions (tests/support/tiktok_definitions/*.yml), table-driven: every
`asset_type`, `share_type` and `filtering` enum value is accepted or refused (40002 naming the field) as the
definition marks it, stated string limits hold, keys the definition lacks are not filtered on, and every
list item field a definition names is in the answer (null allowed where the definition keeps nulls)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer
from tests.support.sandbox import partner
from tests.support.tiktok_definitions.loader import Definition, definitions

DEFS = definitions()
BC_ROUTES = sorted(p for p in DEFS if p.startswith("bc/"))


def _query(sandbox: SandboxServer, path: str, **overrides: Any) -> dict[str, str]:
    """A request the route would answer, except for what `overrides` changes."""
    world, params = sandbox.world, DEFS[path].params
    customer = world.customer_bc_id
    own = [a for a in world.assets.values() if a.owner_bc_id == customer]
    asset_type = overrides.get("asset_type", "ADVERTISER")
    query = {
        "bc_id": customer,
        "partner_id": partner(sandbox, 3).bc_id,
        "asset_type": asset_type,
        "share_type": "SHARING",
        "asset_id": next((a.asset_id for a in own if a.asset_type == asset_type), own[0].asset_id),
    }
    query = {k: v for k, v in query.items() if k in params} | overrides
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in query.items()}


def _ask(sandbox: SandboxServer, path: str, **overrides: Any) -> dict[str, Any]:
    token = sandbox.world.issue_token("admin@acme.example")
    answer = httpx.get(
        sandbox.api_base_url + path,
        params=_query(sandbox, path, **overrides),
        headers={"Access-Token": token},
        timeout=10,
    )
    assert answer.status_code == 200
    return answer.json()


def _refused(answer: dict[str, Any], field: str) -> bool:
    return answer["code"] == 40002 and answer["message"].startswith(f"{field}:")


def _enum_cases() -> list[tuple[str, str, str, bool]]:
    """(path, field, value, accepted) for every enum value of every definition, plus one unknown value."""
    cases = []
    for path in BC_ROUTES:
        params = DEFS[path].params
        for name in ("asset_type", "share_type"):
            if name in params:
                cases += [(path, name, v, True) for v in params[name].valid]
                cases += [(path, name, v, False) for v in (*params[name].invalid, "NOT_A_VALUE")]
        for key, prop in params["filtering"].properties.items() if "filtering" in params else ():
            if prop.valid:
                cases += [(path, f"filtering.{key}", v, True) for v in prop.valid]
                cases += [(path, f"filtering.{key}", v, False) for v in (*prop.invalid, "NOT_A_VALUE")]
    return cases


@pytest.mark.parametrize(("path", "field", "value", "accepted"), _enum_cases(), ids=str)
def test_every_enum_value_is_accepted_or_refused_as_marked(strict_sandbox, path, field, value, accepted) -> None:
    if field.startswith("filtering."):
        answer = _ask(strict_sandbox, path, filtering={field.removeprefix("filtering."): value})
    else:
        answer = _ask(strict_sandbox, path, **{field: value})
    assert _refused(answer, field) != accepted, answer


def _limit_cases() -> list[tuple[str, str, int]]:
    return [
        (path, key, prop.max_length)
        for path in BC_ROUTES
        for key, prop in (DEFS[path].params["filtering"].properties.items() if "filtering" in DEFS[path].params else ())
        if prop.max_length
    ]


@pytest.mark.parametrize(("path", "key", "limit"), _limit_cases())
def test_stated_string_limits(sandbox, path, key, limit) -> None:
    assert not _refused(_ask(sandbox, path, filtering={key: "x" * limit}), f"filtering.{key}")
    assert _refused(_ask(sandbox, path, filtering={key: "x" * (limit + 1)}), f"filtering.{key}")


def test_asset_member_get_has_no_relation_status_filter(sandbox, strict_sandbox) -> None:
    """Ignored where unknown keys are ignored (it filtered before), refused in the strict mode."""
    bc_id, monitor = partner(sandbox, 3).bc_id, sandbox.world.issue_token(partner(sandbox, 3).monitor_email)
    asset_id = next(a.asset_id for a, _ in sandbox.world.shared_assets(sandbox.world.customer_bc_id, bc_id, "SHARING"))
    query = {"bc_id": bc_id, "asset_type": "ADVERTISER", "asset_id": asset_id, "page_size": "20"}

    def listing(server: SandboxServer, **extra: str) -> dict[str, Any]:
        token = server.world.issue_token(partner(server, 3).monitor_email)
        return httpx.get(
            server.api_base_url + "bc/asset/member/get/",
            params=query | extra,
            headers={"Access-Token": token},
            timeout=10,
        ).json()

    assert monitor
    everyone = listing(sandbox)["data"]["list"]
    assert everyone
    assert listing(sandbox, filtering='{"relation_status":"UNBOUND"}')["data"]["list"] == everyone
    assert _refused(listing(strict_sandbox, filtering='{"relation_status":"UNBOUND"}'), "filtering.relation_status")


def _field_cases() -> list[tuple[str, str]]:
    return [
        (path, t)
        for path in BC_ROUTES
        if DEFS[path].item_fields and DEFS[path].keeps_nulls
        for t in (("ADVERTISER", "CATALOG", "PIXEL", "TT_ACCOUNT") if "asset_type" in DEFS[path].params else ("-",))
    ]


@pytest.mark.parametrize(("path", "asset_type"), _field_cases())
def test_every_named_response_field_is_present(strict_sandbox, path, asset_type) -> None:
    overrides = {"asset_type": asset_type} if asset_type != "-" else {}
    if path == "bc/member/get/":
        overrides["bc_id"] = strict_sandbox.world.customer_bc_id
    items = _ask(strict_sandbox, path, **overrides)["data"]["list"]
    assert items
    for item in items:
        assert set(DEFS[path].item_fields) - {"ext_user_role"} <= set(item)
    if path in ("bc/asset/get/", "bc/asset/admin/get/"):
        _assert_type_specific(path, DEFS[path], asset_type, items)


def _assert_type_specific(path: str, definition: Definition, asset_type: str, items: list[dict]) -> None:
    assert set(items[0]) <= set(definition.item_fields)  # no admin-only field in bc/asset/get/
    if asset_type == "CATALOG":
        assert all(isinstance(i["ad_creation_eligible"], bool) for i in items)
    if asset_type == "TT_ACCOUNT":
        assert all(i["owner_bc_name"] is None for i in items)
        assert all(set(i["tt_account_roles"]) <= {"DIRECT_MESSAGE", "LIVE", "POST"} for i in items)


def test_ext_user_role_is_left_out_without_a_finance_role_in_the_strict_mode(strict_sandbox) -> None:
    items = _ask(strict_sandbox, "bc/member/get/")["data"]["list"]
    assert any("ext_user_role" not in i for i in items)
    assert all(i["ext_user_role"]["finance_role"] for i in items if "ext_user_role" in i)


def test_advertiser_show_status_is_applied(sandbox) -> None:
    def ids(**filtering: str) -> set[str]:
        rows = _ask(sandbox, "bc/asset/admin/get/", page_size="50", filtering=filtering)["data"]["list"]
        return {r["asset_id"] for r in rows}

    approved, refused = (
        ids(advertiser_show_status="SHOW_ACCOUNT_STATUS_APPROVED"),
        ids(advertiser_show_status="SHOW_ACCOUNT_STATUS_NOT_APPROVED"),
    )
    assert approved  # the customer's advertisers but its last are STATUS_ENABLE
    assert refused  # ... and the last STATUS_DISABLE
    assert approved | refused == ids()
    assert not approved & refused


def test_asset_partner_get_lists_the_partners_an_asset_is_shared_with(sandbox) -> None:
    world, customer = sandbox.world, sandbox.world.customer_bc_id
    for asset in (a for a in world.assets.values() if a.owner_bc_id == customer):
        expected = {
            pid
            for pid, _ in world.partners_of(customer)
            if any(a.asset_id == asset.asset_id for a, _ in world.shared_assets(customer, pid, "SHARING"))
        }
        answer = _ask(
            sandbox, "bc/asset/partner/get/", asset_type=asset.asset_type, asset_id=asset.asset_id, page_size="50"
        )
        assert {p["bc_id"] for p in answer["data"]["list"]} == expected
        assert all(set(p) == {"bc_id", "bc_name"} for p in answer["data"]["list"])
    advertiser = _query(sandbox, "bc/asset/partner/get/")["asset_id"]
    wrong_type = _ask(sandbox, "bc/asset/partner/get/", asset_type="PIXEL", asset_id=advertiser)
    assert _refused(wrong_type, "asset_id")


def test_advertiser_info_answers_a_stock_connection_check(sandbox) -> None:
    world = sandbox.world
    advertiser = next(
        a for a in world.assets.values() if a.owner_bc_id == world.customer_bc_id and a.asset_type == "ADVERTISER"
    )
    answer = _ask(sandbox, "advertiser/info/", advertiser_ids=[advertiser.asset_id], fields=["name", "status"])
    assert answer["code"] == 0, answer
    assert answer["data"]["list"] == [{"name": advertiser.asset_name, "status": advertiser.advertiser_status}]
    assert _ask(sandbox, "advertiser/info/", advertiser_ids=["7999999999999999999"])["code"] == 40001
    assert _refused(_ask(sandbox, "advertiser/info/", advertiser_ids="not json"), "advertiser_ids")
