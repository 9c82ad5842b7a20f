"""Handlers of the Business Center routes (`bc/get/`, `bc/member/get/`, `bc/partner/get/`,
`bc/partner/asset/get/`, `bc/asset/get/`, `bc/asset/admin/get/`, `bc/asset/member/get/`).

Permission model (wire spec §3, the 40001 code INFERRED): a token is one TikTok user; a BC is visible only to
its BOUND members; the admin-only routes answer 40001 to STANDARD members and to non-members alike.
"""

from __future__ import annotations

from typing import Any

from sandbox.call import Call
from sandbox.errors import PERMISSION_ERROR, ApiError, param_error
from sandbox.models import ADMIN, ASSET_TYPES, RELATION_STATUSES, USER_ROLES, Asset, Member
from sandbox.params import enum, filtering, int64_id, keyword_match, paginate, paging

MAX_PAGE_SIZE = 50
MAX_MEMBER_PAGE_SIZE = 20  # bc/member/get: no max in the yml, bububa says 20 (INFERRED)
RELATION_TYPES = ("OWNER_BC", "OWNER_PARTNER", "OWNER_INDIVIDUAL")


def _page(call: Call, rows: list[Any], max_size: int) -> dict[str, Any]:
    page, size = paging(call.query, max_size)
    items, info = paginate(rows, page, size)
    return {"list": items, "page_info": info}


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


def asset_item(asset: Asset, owner_name: str, role: str, relation_type: str | None = None) -> dict[str, Any]:
    """An asset list item (union of the yml response_rule and bububa `Asset`; type-specific fields only)."""
    item: dict[str, Any] = {"asset_id": asset.asset_id, "asset_name": asset.asset_name,
                            "asset_type": asset.asset_type}
    if relation_type is not None:
        item["relation_type"] = relation_type
        item["relation_status"] = "BOUND"
    if asset.asset_type == "ADVERTISER":
        item["advertiser_status"] = asset.advertiser_status
        item["advertiser_account_type"] = asset.advertiser_account_type
        item["advertiser_role"] = role
    elif asset.asset_type == "CATALOG":
        item["catalog_role"] = role
    elif asset.asset_type == "PIXEL":
        item["pixel_code"] = asset.pixel_code
    elif asset.asset_type == "TT_ACCOUNT":
        item["tt_account_roles"] = ["ADS_PROMOTE"]  # INFERRED value
    item["owner_bc_name"] = owner_name
    return item


def bc_get(call: Call) -> dict[str, Any]:
    """The BCs of the token's user with its role there; keyword matches the BC name or ID (INFERRED)."""
    user_id = call.user_id()
    bc_id = int64_id(call.query, "bc_id", optional=True)
    enum(call.query, "scene", ("SINGLE_ACCOUNT", "TIERED_ACCOUNT"), default="SINGLE_ACCOUNT")
    flt = filtering(call.query, {"keyword": None, "keyword_type": ("ASSET", "MEMBER", "PARTNER", "TIER"),
                                 "relation_type": ("PARENT", "CHILD")})
    rows = [{"bc_info": bc.info_wire(), "user_role": member.user_role,
             "ext_user_role": {"finance_role": member.finance_role} if member.finance_role else {}}
            for bc, member in call.world.user_bcs(user_id)
            if (bc_id is None or bc.bc_id == bc_id) and keyword_match(flt.get("keyword"), bc.name, bc.bc_id)]
    return _page(call, rows, MAX_PAGE_SIZE)


def member_get(call: Call) -> dict[str, Any]:
    """Members of a BC (admin only), PENDING invitees included with their e-mail only."""
    bc_id = str(int64_id(call.query, "bc_id"))
    _no_child_bc(call)
    flt = filtering(call.query, {"keyword": None, "user_role": USER_ROLES, "relation_status": RELATION_STATUSES})
    page, size = paging(call.query, MAX_MEMBER_PAGE_SIZE)
    _admin_of(call, bc_id)
    keyword, role, status = flt.get("keyword"), flt.get("user_role"), flt.get("relation_status")
    matching = [m for m in call.world.members(bc_id)
                if (status is None or m.relation_status == status) and (role is None or m.user_role == role)
                and (not keyword or keyword_match(keyword, m.user_name, m.user_email))]
    members, info = paginate(matching, page, size)  # only the page's members become wire dicts
    return {"list": [m.wire() for m in members], "page_info": info}


def partner_get(call: Call) -> dict[str, Any]:
    """Partners of a BC (admin only): `bc_id`, `bc_name`; `filtering.name` is a substring match."""
    bc_id = str(int64_id(call.query, "bc_id"))
    flt = filtering(call.query, {"name": None})
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    rows = [{"bc_id": pid, "bc_name": name} for pid, name in call.world.partners_of(bc_id)
            if keyword_match(flt.get("name"), name)]
    return _page(call, rows, MAX_PAGE_SIZE)


def partner_asset_get(call: Call) -> dict[str, Any]:
    """Assets shared with (SHARED) or by (SHARING) the BC and one partner (admin only)."""
    bc_id = str(int64_id(call.query, "bc_id"))
    partner_id = str(int64_id(call.query, "partner_id"))
    asset_type = str(enum(call.query, "asset_type", ASSET_TYPES))
    share_type = str(enum(call.query, "share_type", ("SHARED", "SHARING")))
    flt = filtering(call.query, {"keyword": None})
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    if all(pid != partner_id for pid, _ in call.world.partners_of(bc_id)):
        raise param_error("partner_id", "The partner does not exist in the Business Center.")
    owner = call.world.bc_name(bc_id if share_type == "SHARING" else partner_id)
    rows = [asset_item(asset, owner, role) for asset, role in call.world.shared_assets(bc_id, partner_id, share_type)
            if asset.asset_type == asset_type and keyword_match(flt.get("keyword"), asset.asset_name, asset.asset_id)]
    return _page(call, rows, MAX_PAGE_SIZE)


def asset_get(call: Call) -> dict[str, Any]:
    """Assets one member can reach: the caller by default, another member (admins only) via filtering."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = str(enum(call.query, "asset_type", ASSET_TYPES))
    _no_child_bc(call)
    flt = filtering(call.query, {"keyword": None, "user_id": None, "user_email": None})
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
    items = [asset_item(asset, call.world.bc_name(asset.owner_bc_id), role) for asset, _, role in rows
             if asset.asset_type == asset_type and keyword_match(flt.get("keyword"), asset.asset_name, asset.asset_id)]
    return _page(call, items, MAX_PAGE_SIZE)


def _asset_target(call: Call, bc_id: str, caller: Member, flt: dict[str, str]) -> Member | None:
    """The member whose assets `bc/asset/get/` lists; 40001 when a STANDARD caller asks about someone else."""
    user_id, email = flt.get("user_id"), flt.get("user_email", "").lower()
    if not user_id and not email:
        return caller
    target = next((m for m in call.world.members(bc_id)
                   if (user_id and m.user_id == user_id) or (email and m.user_email == email)), None)
    if caller.user_role != ADMIN and target != caller:
        raise ApiError(PERMISSION_ERROR)
    return target


def asset_admin_get(call: Call) -> dict[str, Any]:
    """Every asset of the BC, owned (OWNER_BC) or shared with it (OWNER_PARTNER), for admins."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = str(enum(call.query, "asset_type", ASSET_TYPES))
    _no_child_bc(call)
    flt = filtering(call.query, {"keyword": None, "relation_type": RELATION_TYPES,
                                 "relation_status": RELATION_STATUSES, "advertiser_show_status": None})
    paging(call.query, MAX_PAGE_SIZE)
    _admin_of(call, bc_id)
    rows = [asset_item(asset, call.world.bc_name(asset.owner_bc_id), role, relation)
            for asset, relation, role in call.world.bc_assets(bc_id)
            if asset.asset_type == asset_type and keyword_match(flt.get("keyword"), asset.asset_name, asset.asset_id)
            and flt.get("relation_type", relation) == relation and flt.get("relation_status", "BOUND") == "BOUND"]
    return _page(call, rows, MAX_PAGE_SIZE)


def asset_member_get(call: Call) -> dict[str, Any]:
    """Members of the BC with a role on one asset (admin only): member fields plus advertiser/catalog role."""
    bc_id = str(int64_id(call.query, "bc_id"))
    asset_type = str(enum(call.query, "asset_type", ASSET_TYPES))
    asset_id = str(int64_id(call.query, "asset_id"))
    flt = filtering(call.query, {"keyword": None, "relation_status": RELATION_STATUSES})
    paging(call.query, MAX_MEMBER_PAGE_SIZE)
    _admin_of(call, bc_id)
    rows = call.world.asset_members(bc_id, asset_id)
    asset = call.world.assets.get(asset_id)
    if rows is None or asset is None or asset.asset_type != asset_type:
        raise param_error("asset_id", "The asset does not exist in the Business Center.")
    role_field = "catalog_role" if asset_type == "CATALOG" else "advertiser_role"
    items = [dict(member.wire(), **{role_field: role}) for member, role in rows
             if keyword_match(flt.get("keyword"), member.user_name, member.user_email)
             and flt.get("relation_status", member.relation_status) == member.relation_status]
    return _page(call, items, MAX_MEMBER_PAGE_SIZE)


