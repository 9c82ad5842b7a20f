"""Handlers of the Business Center routes (`bc/get/`, `bc/member/get/`, `bc/partner/get/`,
`bc/partner/asset/get/`, `bc/asset/get/`, `bc/asset/admin/get/`, `bc/asset/member/get/`,
`bc/asset/partner/get/`).

Permission model (wire spec §3, the 40001 code INFERRED): a token is one TikTok user; a BC is visible only to
its BOUND members; the admin-only routes answer 40001 to STANDARD members and to non-members alike.
What each route accepts (asset types, filtering keys, enums, string limits) is `sandbox/spec.py`, from
TikTok's SDK definitions; where they are silent the answer is one switch of `Inferred` (`call.inferred`).
"""

from __future__ import annotations

from typing import Any

from sandbox.call import Call
from sandbox.errors import PERMISSION_ERROR, ApiError, param_error
from sandbox.models import ADMIN, Asset, Member
from sandbox.params import enum, filtering, int64_id, keyword_match, paginate, paging
from sandbox.spec import ASSET_TYPES_OF, FILTERS, SHARE_TYPES

MAX_PAGE_SIZE = 50


def _page(call: Call, rows: list[Any], max_size: int) -> dict[str, Any]:
    page, size = paging(call.query, max_size)
    items, info = paginate(rows, page, size, call.inferred.past_last_page_empty)
    return {"list": items, "page_info": info}


def _filtering(call: Call, route: str) -> dict[str, str]:
    return filtering(call.query, FILTERS[route], call.inferred)


def _asset_type(call: Call, route: str) -> str:
    """The `asset_type` of a request, from the values the route's definition marks valid."""
    return str(enum(call.query, "asset_type", ASSET_TYPES_OF[route]))


def _match(call: Call, keyword: str | None, *fields: str | None) -> bool:
    return keyword_match(keyword, *fields, substring=call.inferred.keyword_substring)


def _member_of(call: Call, bc_id: str) -> Member:
    """The caller's BOUND membership of the BC; 40001 for a non-member (or an unknown BC)."""
    member = call.world.membership(bc_id, call.user_id())
    if member is None:
        raise ApiError(PERMISSION_ERROR)
    return member


def _admin_of(call: Call, bc_id: str) -> Member:
    member = _member_of(call, bc_id)
    if member.user_role != ADMIN:
        raise ApiError(PERMISSION_ERROR)
    return member


def _no_child_bc(call: Call) -> None:
    """The sandbox has no tiered BCs: any child_bc_id is one the caller cannot see (INFERRED 40001)."""
    if int64_id(call.query, "child_bc_id", optional=True) is not None:
        raise ApiError(PERMISSION_ERROR)


def asset_item(
    call: Call, asset: Asset, owner_name: str | None, role: str, relation_type: str | None = None
) -> dict[str, Any]:
    """An asset list item with every field `bc/asset/get/`'s definition names, null where it does not apply
    (the definitions keep nulls); with `relation_type`, the `bc/asset/admin/get/` item (adds
    `advertiser_status`, `pixel_code`, `relation_status`, `relation_type`)."""
    inferred, kind = call.inferred, asset.asset_type
    tt_account = kind == "TT_ACCOUNT"
    item: dict[str, Any] = {
        "asset_id": asset.asset_id,
        "asset_name": asset.asset_name,
        "asset_type": kind,
        "advertiser_account_type": asset.advertiser_account_type if kind == "ADVERTISER" else None,
        "advertiser_role": role if kind == "ADVERTISER" else None,
        "catalog_role": role if kind == "CATALOG" else None,
        "ad_creation_eligible": inferred.catalog_ad_creation_eligible if kind == "CATALOG" else None,
        "store_role": None,
        "tt_account_roles": list(inferred.tt_account_roles) if tt_account else None,
        "owner_bc_name": None if tt_account and not inferred.tt_account_owner_bc_name else owner_name,
    }
    if relation_type is not None:
        item.update(
            relation_type=relation_type,
            relation_status="BOUND",
            pixel_code=asset.pixel_code,
            advertiser_status=asset.advertiser_status if kind == "ADVERTISER" else None,
        )
    return item


def bc_get(call: Call) -> dict[str, Any]:
    """The BCs of the token's user with its role there; keyword matches the BC name or ID (INFERRED)."""
    user_id = call.user_id()
    bc_id = int64_id(call.query, "bc_id", optional=True)
    enum(call.query, "scene", ("SINGLE_ACCOUNT", "TIERED_ACCOUNT"), default="SINGLE_ACCOUNT")
    flt = _filtering(call, "bc/get/")
    rows = [
        {
            "bc_info": bc.info_wire(),
            "user_role": member.user_role,
            "ext_user_role": {"finance_role": member.finance_role} if member.finance_role else {},
        }
        for bc, member in call.world.user_bcs(user_id)
        if (bc_id is None or bc.bc_id == bc_id) and _match(call, flt.get("keyword"), bc.name, bc.bc_id)
    ]
    return _page(call, rows, MAX_PAGE_SIZE)


def member_get(call: Call) -> dict[str, Any]:
    """Members of a BC (admin only), PENDING invitees included with their e-mail only."""
    bc_id = str(int64_id(call.query, "bc_id"))
    _no_child_bc(call)
    flt = _filtering(call, "bc/member/get/")
    page, size = paging(call.query, call.inferred.member_page_size_max)
    _admin_of(call, bc_id)
    keyword, role, status = flt.get("keyword"), flt.get("user_role"), flt.get("relation_status")
    matching = [
        m
        for m in call.world.members(bc_id)
        if (status is None or m.relation_status == status)
        and (role is None or m.user_role == role)
        and _match(call, keyword, m.user_name, m.user_email)
    ]
    members, info = paginate(matching, page, size, call.inferred.past_last_page_empty)  # only the page's become dicts
    return {"list": [m.listed(call.inferred.empty_ext_user_role) for m in members], "page_info": info}


def partner_get(call: Call) -> dict[str, Any]:
    """Partners of a BC (admin only): `bc_id`, `bc_name`; `filtering.name` is a substring match."""
    bc_id = str(int64_id(call.query, "bc_id"))
    flt = _filtering(call, "bc/partner/get/")
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    rows = [
        {"bc_id": pid, "bc_name": name}
        for pid, name in call.world.partners_of(bc_id)
        if _match(call, flt.get("name"), name)
    ]
    return _page(call, rows, MAX_PAGE_SIZE)


def partner_asset_get(call: Call) -> dict[str, Any]:
    """Assets shared with (SHARED) or by (SHARING) the BC and one partner (admin only)."""
    bc_id = str(int64_id(call.query, "bc_id"))
    partner_id = str(int64_id(call.query, "partner_id"))
    asset_type = _asset_type(call, "bc/partner/asset/get/")
    share_type = str(enum(call.query, "share_type", SHARE_TYPES))
    flt = _filtering(call, "bc/partner/asset/get/")
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    if all(pid != partner_id for pid, _ in call.world.partners_of(bc_id)):
        raise param_error("partner_id", "The partner does not exist in the Business Center.")
    owner = call.world.bc_name(bc_id if share_type == "SHARING" else partner_id)
    rows = [
        asset_item(call, asset, owner, role)
        for asset, role in call.world.shared_assets(bc_id, partner_id, share_type)
        if asset.asset_type == asset_type and _match(call, flt.get("keyword"), asset.asset_name, asset.asset_id)
    ]
    return _page(call, rows, MAX_PAGE_SIZE)


def asset_get(call: Call) -> dict[str, Any]:
    """Assets one member can reach: the caller by default, another member (admins only) via filtering."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = _asset_type(call, "bc/asset/get/")
    _no_child_bc(call)
    flt = _filtering(call, "bc/asset/get/")
    if "user_id" in flt and "user_email" in flt:
        raise param_error("filtering", "Only one of user_id and user_email can be set.")
    paging(call.query, MAX_PAGE_SIZE)
    caller = _member_of(call, bc_id)
    target = _asset_target(call, bc_id, caller, flt)
    if target is None:
        rows = []
    elif target.user_role == ADMIN and target.relation_status == "BOUND":
        rows = call.world.bc_assets(bc_id)
    else:
        rows = call.world.assigned_assets(bc_id, target.key)
    items = [
        asset_item(call, asset, call.world.bc_name(asset.owner_bc_id), role)
        for asset, _, role in rows
        if asset.asset_type == asset_type and _match(call, flt.get("keyword"), asset.asset_name, asset.asset_id)
    ]
    return _page(call, items, MAX_PAGE_SIZE)


def _asset_target(call: Call, bc_id: str, caller: Member, flt: dict[str, str]) -> Member | None:
    """The member whose assets `bc/asset/get/` lists; 40001 when a STANDARD caller asks about someone else."""
    user_id, email = flt.get("user_id"), flt.get("user_email", "").lower()
    if not user_id and not email:
        return caller
    target = next(
        (
            m
            for m in call.world.members(bc_id)
            if (user_id and m.user_id == user_id) or (email and m.user_email == email)
        ),
        None,
    )
    if caller.user_role != ADMIN and target != caller:
        raise ApiError(PERMISSION_ERROR)
    return target


def asset_admin_get(call: Call) -> dict[str, Any]:
    """Every asset of the BC, owned (OWNER_BC) or shared with it (OWNER_PARTNER), for admins."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = _asset_type(call, "bc/asset/admin/get/")
    _no_child_bc(call)
    flt = _filtering(call, "bc/asset/admin/get/")
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    rows = [
        asset_item(call, asset, call.world.bc_name(asset.owner_bc_id), role, relation)
        for asset, relation, role in call.world.bc_assets(bc_id)
        if asset.asset_type == asset_type
        and _match(call, flt.get("keyword"), asset.asset_name, asset.asset_id)
        and flt.get("relation_type", relation) == relation
        and flt.get("relation_status", "BOUND") == "BOUND"
        and _shows(call, asset, flt.get("advertiser_show_status"))
    ]
    return _page(call, rows, MAX_PAGE_SIZE)


def _shows(call: Call, asset: Asset, show_status: str | None) -> bool:
    """Whether an asset passes `filtering.advertiser_show_status`: an advertiser whose status maps to it (the
    mapping INFERRED); other types pass unless `Inferred.show_status_filters_all_types`."""
    if show_status is None:
        return True
    if asset.asset_type != "ADVERTISER":
        return not call.inferred.show_status_filters_all_types
    return dict(call.inferred.show_status_of).get(asset.advertiser_status or "") == show_status


_ROLE_FIELD = {"ADVERTISER": "advertiser_role", "CATALOG": "catalog_role", "LEAD": "form_library_role"}


def asset_member_get(call: Call) -> dict[str, Any]:
    """Members of the BC with a role on one asset (admin only): member fields plus the asset's role field.
    Its definition has no `relation_status` filter: the listing is filtered by keyword only."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = _asset_type(call, "bc/asset/member/get/")
    asset_id = str(int64_id(call.query, "asset_id"))
    flt = _filtering(call, "bc/asset/member/get/")
    paging(call.query, 20)
    _admin_of(call, bc_id)
    rows = call.world.asset_members(bc_id, asset_id)
    asset = call.world.assets.get(asset_id)
    if rows is None or asset is None or asset.asset_type != asset_type:
        raise param_error("asset_id", "The asset does not exist in the Business Center.")
    role_field = _ROLE_FIELD[asset_type]
    items = [
        dict(member.listed(call.inferred.empty_ext_user_role), **{role_field: role})
        for member, role in rows
        if _match(call, flt.get("keyword"), member.user_name, member.user_email)
    ]
    return _page(call, items, 20)


def asset_partner_get(call: Call) -> dict[str, Any]:
    """The partners (`bc_id`, `bc_name`, bububa `AssetPartner`) one asset of the BC is shared with (admin
    only); `filtering.keyword` matches the partner name. Current shares only: bububa says "ever shared", but
    the sandbox never unshares."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = _asset_type(call, "bc/asset/partner/get/")
    asset_id = str(int64_id(call.query, "asset_id"))
    flt = _filtering(call, "bc/asset/partner/get/")
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    owned = {asset.asset_id: asset for asset, relation, _ in call.world.bc_assets(bc_id) if relation == "OWNER_BC"}
    if asset_id not in owned or owned[asset_id].asset_type != asset_type:
        raise param_error("asset_id", "The asset does not exist in the Business Center.")
    rows = [
        {"bc_id": pid, "bc_name": name}
        for pid, name in call.world.partners_of(bc_id)
        if _match(call, flt.get("keyword"), name)
        and any(asset.asset_id == asset_id for asset, _ in call.world.shared_assets(bc_id, pid, "SHARING"))
    ]
    return _page(call, rows, MAX_PAGE_SIZE)
