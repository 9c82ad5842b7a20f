"""Shape checks of the typed helpers: bad items raise ResponseShapeError (not retried) naming the path, the
item and the field; ids beyond 2^53 stay exact strings and missing optional fields are fine."""

from __future__ import annotations

import httpx
import pytest

from core.tiktok import shapes
from core.tiktok.errors import ResponseShapeError
from tests.support.tiktok_mock import TOKEN, Script, call, make_client


def _listing(items: list) -> Script:
    body = (
        b'{"code":0,"message":"OK","request_id":"r","data":{"page_info":{"total_page":1},"list":'
        + httpx.Response(200, json=items).content
        + b"}}"
    )
    return Script(httpx.Response(200, content=body))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"bc_name": "No id"}, "list[0].bc_id is missing"),
        ({"bc_id": 1.2e19}, "list[0].bc_id is a float, expected an id string"),
        ({"bc_id": True}, "list[0].bc_id is a bool, expected an id string"),
        ({"bc_id": {"id": "1"}}, "list[0].bc_id is an object, expected an id string"),
        ({"bc_id": "  "}, "list[0].bc_id is an empty id"),
        ({"bc_id": "1", "bc_name": 42}, "list[0].bc_name is an integer, expected text"),
    ],
)
def test_bad_partner_items_are_refused_once_with_the_field_named(item: dict, message: str) -> None:
    script = _listing([{"bc_id": "7", "bc_name": "Fine"}, item])
    with pytest.raises(ResponseShapeError) as raised:
        call(make_client(script), lambda c: c.get_partners(TOKEN, "1"))
    assert str(raised.value) == (
        "TikTok sent an unexpected response on bc/partner/get/: " + message.replace("list[0]", "list[1]")
    )
    assert not raised.value.retryable
    assert len(script.requests) == 1


def test_ids_beyond_2_pow_53_and_pending_invitees_pass_unchanged() -> None:
    members = [
        {
            "user_id": 9007199254740993,
            "user_name": "Ünï " * 2000,
            "user_email": "a@b.example",
            "ext_user_role": {"finance_role": "MANAGER"},
        },
        {"user_email": "invitee@b.example", "relation_status": "PENDING"},
    ]
    got = call(make_client(_listing(members)), lambda c: c.get_members(TOKEN, "1"))
    assert got[0]["user_id"] == "9007199254740993"
    assert got[0]["user_name"] == "Ünï " * 2000
    assert got[1] == members[1]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"user_name": "Nobody"}], "list[0] has neither user_id nor user_email"),
        ([{"user_id": "1", "ext_user_role": {"finance_role": 3}}], "list[0].ext_user_role.finance_role is an integer"),
        ([{"user_id": "1", "ext_user_role": "MANAGER"}], "list[0].ext_user_role is text, expected an object"),
        (["not an object"], "list[0] is text, expected an object"),
        ([{"user_email": "\ud800@b.example"}], "list[0].user_email is not valid Unicode text"),
    ],
)
def test_bad_member_items(items: list, message: str) -> None:
    with pytest.raises(ResponseShapeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        shapes.check_items("bc/member/get/", items, shapes.MEMBER)


def test_bc_items_need_bc_info_with_an_id() -> None:
    assert shapes.check_items("bc/get/", [{"bc_info": {"bc_id": "1"}, "user_role": "ADMIN"}], shapes.BC)
    with pytest.raises(ResponseShapeError, match=r"list\[0\].bc_info.bc_id is a float"):
        shapes.check_items("bc/get/", [{"bc_info": {"bc_id": 1.0}}], shapes.BC)


@pytest.mark.parametrize(
    "invitee",
    [
        {"user_email": "new@partner.example", "user_role": "STANDARD", "relation_status": "PENDING"},
        {
            "user_id": None,
            "user_name": None,
            "user_email": "new@partner.example",
            "user_role": "STANDARD",
            "relation_status": "PENDING",
            "ext_user_role": None,
        },
    ],
)
def test_null_and_absent_optional_fields_are_both_accepted(invitee: dict) -> None:
    assert shapes.check_items("bc/member/get/", [invitee], shapes.MEMBER) == [invitee]
    asset = {"asset_id": "7", "asset_name": None, "owner_bc_name": None, "tt_account_roles": ["POST"]}
    assert shapes.check_items("bc/asset/admin/get/", [asset], shapes.PARTNER_ASSET) == [asset]
