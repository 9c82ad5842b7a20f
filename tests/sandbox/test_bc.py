"""The Business Center endpoints: fields, parameters, filtering, pagination and the permission model."""

from __future__ import annotations

import json

import pytest

from tests.support.sandbox import partner

MEMBER_FIELDS = {"user_id", "user_name", "user_email", "user_role", "relation_status", "ext_user_role"}


@pytest.fixture
def customer_id(sandbox) -> str:
    return sandbox.world.customer_bc_id


@pytest.fixture
def monitor(sandbox):
    """(partner 3's bc_id, a token of its ADMIN monitor account)."""
    info = partner(sandbox, 3)
    return info.bc_id, sandbox.world.issue_token(info.monitor_email)


def _all_pages(get, route, token, page_size, **query):
    first = get(route, token, page=1, page_size=page_size, **query)["data"]
    rows = list(first["list"])
    for page in range(2, first["page_info"]["total_page"] + 1):
        rows += get(route, token, page=page, page_size=page_size, **query)["data"]["list"]
    return first["page_info"], rows


# --- bc/get/ --------------------------------------------------------------------------------------


def test_bc_get_lists_the_users_bcs_with_role(get, admin_token, customer_id) -> None:
    data = get("bc/get/", admin_token)["data"]
    assert data["page_info"] == {"page": 1, "page_size": 10, "total_number": 1, "total_page": 1}
    item = data["list"][0]
    assert item["bc_info"]["bc_id"] == customer_id
    assert item["bc_info"]["name"] == "Acme Retail Group"
    assert set(item["bc_info"]) >= {
        "company",
        "currency",
        "registered_area",
        "status",
        "timezone",
        "type",
        "verification_status",
    }
    assert (item["user_role"], item["ext_user_role"]) == ("ADMIN", {"finance_role": "MANAGER"})


def test_bc_get_for_a_monitor_and_the_bc_id_filter(get, sandbox, monitor, customer_id) -> None:
    bc_id, token = monitor
    rows = get("bc/get/", token)["data"]["list"]
    assert [r["bc_info"]["bc_id"] for r in rows] == [bc_id]
    assert rows[0]["bc_info"]["type"] == "AGENCY"
    assert get("bc/get/", token, bc_id=customer_id)["data"]["list"] == []


def test_bc_get_standard_monitor_role(get, sandbox) -> None:
    token = sandbox.world.issue_token(partner(sandbox, 2).monitor_email)
    assert get("bc/get/", token)["data"]["list"][0]["user_role"] == "STANDARD"


def test_bc_get_keyword_and_bad_scene(get, admin_token) -> None:
    assert get("bc/get/", admin_token, filtering=json.dumps({"keyword": "acme"}))["data"]["list"]
    assert get("bc/get/", admin_token, filtering=json.dumps({"keyword": "zzz"}))["data"]["list"] == []
    assert get("bc/get/", admin_token, scene="EVERYTHING")["code"] == 40002


# --- bc/member/get/ -------------------------------------------------------------------------------


def test_member_get_fields_and_pending_invitees(get, monitor) -> None:
    bc_id, token = monitor
    info, rows = _all_pages(get, "bc/member/get/", token, 20, bc_id=bc_id)
    assert info["total_number"] == 41 == len(rows)
    pending = [r for r in rows if r["relation_status"] == "PENDING"]
    assert pending
    # the definitions keep nulls (pop_resp_nullvalue: false): an invitee's user_id/user_name are null, not missing
    assert all(set(r) == MEMBER_FIELDS and r["user_id"] is None and r["user_name"] is None for r in pending)
    bound = [r for r in rows if r["relation_status"] == "BOUND"]
    assert all(set(r) == MEMBER_FIELDS for r in bound)
    assert all(isinstance(r["user_id"], str) for r in bound)


def test_member_get_pages_cover_the_list_without_duplicates(get, sandbox, monitor) -> None:
    bc_id, token = monitor
    whole = [m.listed() for m in sandbox.world.members(bc_id)]
    for size in (1, 7, 20):
        info, rows = _all_pages(get, "bc/member/get/", token, size, bc_id=bc_id)
        assert rows == whole
        assert info["total_page"] == -(-len(whole) // size)
        keys = [r.get("user_id") or r["user_email"] for r in rows]
        assert len(keys) == len(set(keys))


def test_member_get_filters(get, monitor) -> None:
    bc_id, token = monitor
    for key, value in (("user_role", "ADMIN"), ("relation_status", "PENDING"), ("relation_status", "REJECTED")):
        _, rows = _all_pages(get, "bc/member/get/", token, 20, bc_id=bc_id, filtering=json.dumps({key: value}))
        assert rows
        assert all(r[key] == value for r in rows)
    _, rows = _all_pages(get, "bc/member/get/", token, 20, bc_id=bc_id, filtering=json.dumps({"keyword": "MONITOR@"}))
    assert [r["user_name"] for r in rows] == ["PartnerWatch Monitor"]


def test_member_get_page_past_the_end_is_empty(get, monitor) -> None:
    bc_id, token = monitor
    data = get("bc/member/get/", token, bc_id=bc_id, page=99, page_size=20)["data"]
    assert data["list"] == []
    assert data["page_info"] == {"page": 99, "page_size": 20, "total_number": 41, "total_page": 3}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"bc_id": None}, "bc_id"),
        ({"bc_id": "abc"}, "bc_id"),
        ({"page_size": 21}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"filtering": "{not json"}, "filtering"),
        ({"filtering": "[1]"}, "filtering"),
        ({"filtering": json.dumps({"user_role": "OWNER"})}, "filtering.user_role"),
    ],
)
def test_member_get_parameter_errors_are_40002(get, monitor, query, field) -> None:
    bc_id, token = monitor
    params = {key: value for key, value in ({"bc_id": bc_id} | query).items() if value is not None}
    answer = get("bc/member/get/", token, **params)
    assert answer["code"] == 40002
    assert answer["message"].startswith(field)
    assert answer["data"] == {}


def test_member_get_of_a_standard_member_is_40001(get, sandbox) -> None:
    info = partner(sandbox, 2)
    answer = get("bc/member/get/", sandbox.world.issue_token(info.monitor_email), bc_id=info.bc_id)
    assert (answer["code"], answer["message"]) == (40001, "No permission to perform the related operation.")


def test_member_get_of_a_non_member_is_40001(get, admin_token, monitor) -> None:
    bc_id, _ = monitor
    assert get("bc/member/get/", admin_token, bc_id=bc_id)["code"] == 40001
    assert get("bc/member/get/", admin_token, bc_id="7999999999999999999")["code"] == 40001


def test_member_get_without_token_is_40104(get, monitor) -> None:
    assert get("bc/member/get/", bc_id=monitor[0])["code"] == 40104


# --- bc/partner/get/ ------------------------------------------------------------------------------


def test_partner_get_both_sides(get, sandbox, admin_token, customer_id, monitor) -> None:
    info, rows = _all_pages(get, "bc/partner/get/", admin_token, 4, bc_id=customer_id)
    assert [r["bc_id"] for r in rows] == [p.bc_id for p in sandbox.world.partners]
    assert all(set(r) == {"bc_id", "bc_name"} for r in rows)
    assert info["total_number"] == 6
    bc_id, token = monitor
    assert get("bc/partner/get/", token, bc_id=bc_id)["data"]["list"] == [
        {"bc_id": customer_id, "bc_name": "Acme Retail Group"}
    ]


def test_partner_get_name_filter_and_errors(get, sandbox, admin_token, customer_id) -> None:
    name = sandbox.world.bcs[partner(sandbox, 4).bc_id].name
    rows = get("bc/partner/get/", admin_token, bc_id=customer_id, filtering=json.dumps({"name": name[:5].lower()}))[
        "data"
    ]["list"]
    assert name in [r["bc_name"] for r in rows]
    assert get("bc/partner/get/", admin_token, bc_id=customer_id, page_size=51)["code"] == 40002
    analyst = sandbox.world.issue_token("analyst@acme.example")
    assert get("bc/partner/get/", analyst, bc_id=customer_id)["code"] == 40001


# --- bc/partner/asset/get/ ------------------------------------------------------------------------


def test_partner_assets_sharing_equals_shared_from_the_other_side(
    get, sandbox, admin_token, customer_id, monitor
) -> None:
    bc_id, token = monitor
    ours = get(
        "bc/partner/asset/get/",
        admin_token,
        bc_id=customer_id,
        partner_id=bc_id,
        asset_type="ADVERTISER",
        share_type="SHARING",
    )["data"]["list"]
    theirs = get(
        "bc/partner/asset/get/",
        token,
        bc_id=bc_id,
        partner_id=customer_id,
        asset_type="ADVERTISER",
        share_type="SHARED",
    )["data"]["list"]
    assert ours
    assert ours == theirs
    assert all(r["owner_bc_name"] == "Acme Retail Group" for r in ours)
    assert {"asset_id", "asset_name", "asset_type", "advertiser_role", "advertiser_account_type"} <= set(ours[0])
    assert "advertiser_status" not in ours[0]  # admin/get only
    shared_in = get(
        "bc/partner/asset/get/",
        admin_token,
        bc_id=customer_id,
        partner_id=bc_id,
        asset_type="ADVERTISER",
        share_type="SHARED",
    )["data"]["list"]
    assert shared_in  # partner 3 always shares some of its own advertisers with the customer
    assert all(r["owner_bc_name"] == sandbox.world.bcs[bc_id].name for r in shared_in)


def test_partner_one_shares_nothing(get, sandbox, admin_token, customer_id) -> None:
    first = partner(sandbox, 1).bc_id
    for share_type in ("SHARED", "SHARING"):
        for asset_type in ("ADVERTISER", "CATALOG"):
            data = get(
                "bc/partner/asset/get/",
                admin_token,
                bc_id=customer_id,
                partner_id=first,
                asset_type=asset_type,
                share_type=share_type,
            )["data"]
            assert data["list"] == []
            assert data["page_info"]["total_number"] == 0


@pytest.mark.parametrize("drop", ["partner_id", "asset_type", "share_type"])
def test_partner_assets_required_parameters(get, sandbox, admin_token, customer_id, drop) -> None:
    query = {
        "bc_id": customer_id,
        "partner_id": partner(sandbox, 3).bc_id,
        "asset_type": "ADVERTISER",
        "share_type": "SHARING",
    }
    del query[drop]
    answer = get("bc/partner/asset/get/", admin_token, **query)
    assert answer["code"] == 40002
    assert drop in answer["message"]


def test_partner_assets_bad_values(get, sandbox, admin_token, customer_id) -> None:
    base = {"bc_id": customer_id, "asset_type": "ADVERTISER", "share_type": "SHARING"}
    assert get("bc/partner/asset/get/", admin_token, partner_id="7999999999999999999", **base)["code"] == 40002
    assert (
        get(
            "bc/partner/asset/get/",
            admin_token,
            partner_id=partner(sandbox, 3).bc_id,
            **(base | {"share_type": "BOTH"}),
        )["code"]
        == 40002
    )
    assert (
        get(
            "bc/partner/asset/get/",
            admin_token,
            partner_id=partner(sandbox, 3).bc_id,
            **(base | {"asset_type": "TIKTOK_ACCOUNT"}),
        )["code"]
        == 40002
    )


# --- bc/asset/get/ and bc/asset/admin/get/ --------------------------------------------------------


def test_asset_get_admin_sees_all_standard_sees_assigned(get, sandbox, admin_token, customer_id) -> None:
    all_rows = get("bc/asset/get/", admin_token, bc_id=customer_id, asset_type="ADVERTISER", page_size=50)
    analyst = sandbox.world.issue_token("analyst@acme.example")
    mine = get("bc/asset/get/", analyst, bc_id=customer_id, asset_type="ADVERTISER")["data"]["list"]
    assert len(mine) == 2
    assert all(r["advertiser_role"] == "ANALYST" for r in mine)
    assert {r["asset_id"] for r in mine} < {r["asset_id"] for r in all_rows["data"]["list"]}
    pixel = get("bc/asset/get/", admin_token, bc_id=customer_id, asset_type="PIXEL")["data"]["list"]
    assert len(pixel) == 1
    assert "pixel_code" not in pixel[0]  # named by bc/asset/admin/get/'s definition only
    admin_pixel = get("bc/asset/admin/get/", admin_token, bc_id=customer_id, asset_type="PIXEL")["data"]["list"]
    assert admin_pixel[0]["pixel_code"]


def test_asset_get_for_another_user(get, sandbox, admin_token, customer_id) -> None:
    analyst_id = sandbox.world.accounts["analyst@acme.example"]
    by_id = get(
        "bc/asset/get/",
        admin_token,
        bc_id=customer_id,
        asset_type="ADVERTISER",
        filtering=json.dumps({"user_id": analyst_id}),
    )["data"]["list"]
    by_mail = get(
        "bc/asset/get/",
        admin_token,
        bc_id=customer_id,
        asset_type="ADVERTISER",
        filtering=json.dumps({"user_email": "analyst@acme.example"}),
    )["data"]["list"]
    assert len(by_id) == 2
    assert by_id == by_mail
    both = get(
        "bc/asset/get/",
        admin_token,
        bc_id=customer_id,
        asset_type="ADVERTISER",
        filtering=json.dumps({"user_id": analyst_id, "user_email": "analyst@acme.example"}),
    )
    assert both["code"] == 40002
    analyst = sandbox.world.issue_token("analyst@acme.example")
    admin_id = sandbox.world.accounts["admin@acme.example"]
    assert (
        get(
            "bc/asset/get/",
            analyst,
            bc_id=customer_id,
            asset_type="ADVERTISER",
            filtering=json.dumps({"user_id": admin_id}),
        )["code"]
        == 40001
    )


def test_asset_get_non_member_and_missing_type(get, admin_token, customer_id, monitor) -> None:
    assert get("bc/asset/get/", admin_token, bc_id=monitor[0], asset_type="ADVERTISER")["code"] == 40001
    assert get("bc/asset/get/", admin_token, bc_id=customer_id)["code"] == 40002


def test_asset_admin_get_relation_types(get, sandbox, monitor) -> None:
    bc_id, token = monitor
    rows = get("bc/asset/admin/get/", token, bc_id=bc_id, asset_type="ADVERTISER", page_size=50)["data"]["list"]
    assert {r["relation_type"] for r in rows} == {"OWNER_BC", "OWNER_PARTNER"}
    assert all(r["relation_status"] == "BOUND" for r in rows)
    owned = get(
        "bc/asset/admin/get/",
        token,
        bc_id=bc_id,
        asset_type="ADVERTISER",
        filtering=json.dumps({"relation_type": "OWNER_BC"}),
    )["data"]["list"]
    assert owned
    assert all(r["owner_bc_name"] == sandbox.world.bcs[bc_id].name for r in owned)
    standard = sandbox.world.issue_token(partner(sandbox, 2).monitor_email)
    assert (
        get("bc/asset/admin/get/", standard, bc_id=partner(sandbox, 2).bc_id, asset_type="ADVERTISER")["code"] == 40001
    )


# --- bc/asset/member/get/ -------------------------------------------------------------------------


def test_asset_member_get_lists_assigned_members_with_roles(get, sandbox, monitor) -> None:
    bc_id, token = monitor
    share = next(s for s in sandbox.world.shares if s.partner_bc_id == bc_id)
    expected = sandbox.world.bcs[bc_id].assignments[share.asset_id]
    asset_type = sandbox.world.assets[share.asset_id].asset_type
    role_field = "catalog_role" if asset_type == "CATALOG" else "advertiser_role"
    _, rows = _all_pages(
        get, "bc/asset/member/get/", token, 20, bc_id=bc_id, asset_type=asset_type, asset_id=share.asset_id
    )
    assert {r["user_id"]: r[role_field] for r in rows} == expected
    assert all(set(r) >= MEMBER_FIELDS for r in rows)


def test_asset_member_get_errors(get, sandbox, monitor, customer_id) -> None:
    bc_id, token = monitor
    share = next(s for s in sandbox.world.shares if s.partner_bc_id == bc_id)
    base = {"bc_id": bc_id, "asset_type": "ADVERTISER"}
    assert get("bc/asset/member/get/", token, **base)["code"] == 40002
    assert get("bc/asset/member/get/", token, asset_id=share.asset_id, page_size=21, **base)["code"] == 40002
    foreign = partner(sandbox, 1)
    not_here = sandbox.world.bcs[foreign.bc_id].asset_ids[0]
    assert get("bc/asset/member/get/", token, asset_id=not_here, **base)["code"] == 40002
    admin = sandbox.world.issue_token("admin@acme.example")
    assert get("bc/asset/member/get/", admin, asset_id=share.asset_id, **base)["code"] == 40001
