"""Shape checks of the TikTok listings PartnerWatch stores, at the client boundary.

Each item of `bc/get/`, `bc/partner/get/`, `bc/partner/asset/get/`, `bc/member/get/` and
`bc/asset/member/get/` is checked before the sync sees it:

- an **id** is a string (integers were already turned into exact strings by `envelope.loads`; a float,
  a bool, an object or a list under an id key is refused: a float id has lost digits);
- a **text** field (names, e-mails, roles, statuses) is a string, valid Unicode (no lone surrogates);
- an **object** field is a JSON object whose own fields are checked the same way;
- a missing or null field is fine unless it is required (a PENDING invitee has no user_id or user_name),
  and a member needs at least one of user_id and user_email to be told apart.

Anything else raises `ResponseShapeError` naming the path, the item and the field, e.g.
`list[3].user_name is a float, expected text`. Extra fields are ignored. Nothing is coerced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from core.tiktok.errors import ResponseShapeError

# A JSON object as TikTok sent it (after envelope.loads); its fields vary by endpoint and are checked here.
JSONObject: TypeAlias = dict[str, Any]

ID, TEXT, OBJECT = "id", "text", "object"
_EXPECTED = {ID: "an id string", TEXT: "text", OBJECT: "an object"}


@dataclass(frozen=True)
class Shape:
    """The checked fields of one item: name → kind, the required ones, and groups needing one member."""

    fields: Mapping[str, str]
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    nested: Mapping[str, Shape] = field(default_factory=dict)


_MEMBER_KEY = ("user_id", "user_email")
BC = Shape(
    {"bc_info": OBJECT, "user_role": TEXT},
    required=("bc_info",),
    nested={"bc_info": Shape({"bc_id": ID, "name": TEXT}, required=("bc_id",))},
)
PARTNER = Shape({"bc_id": ID, "bc_name": TEXT}, required=("bc_id",))
PARTNER_ASSET = Shape(
    {"asset_id": ID, "asset_name": TEXT, "asset_type": TEXT, "owner_bc_name": TEXT}, required=("asset_id",)
)
MEMBER = Shape(
    {
        "user_id": ID,
        "user_name": TEXT,
        "user_email": TEXT,
        "user_role": TEXT,
        "relation_status": TEXT,
        "ext_user_role": OBJECT,
    },
    one_of=(_MEMBER_KEY,),
    nested={"ext_user_role": Shape({"finance_role": TEXT})},
)
ASSET_MEMBER = Shape(
    {
        "user_id": ID,
        "user_name": TEXT,
        "user_email": TEXT,
        "advertiser_role": TEXT,
        "catalog_role": TEXT,
        "form_library_role": TEXT,
        "asset_role": TEXT,
    },
    one_of=(_MEMBER_KEY,),
)


def check_items(path: str, items: list[Any], shape: Shape) -> list[JSONObject]:
    """Return `items` unchanged when every one has `shape`; else raise ResponseShapeError."""
    for index, item in enumerate(items):
        _check(path, f"list[{index}]", item, shape)
    return items


def _check(path: str, where: str, item: Any, shape: Shape) -> None:
    if not isinstance(item, dict):
        raise ResponseShapeError(path, where, f"is {_a(item)}, expected an object")
    for name, kind in shape.fields.items():
        value = item.get(name)
        if value is None:
            if name in shape.required:
                raise ResponseShapeError(path, f"{where}.{name}", "is missing")
            continue
        _check_value(path, f"{where}.{name}", value, kind, required=name in shape.required)
        if kind == OBJECT and name in shape.nested:
            _check(path, f"{where}.{name}", value, shape.nested[name])
    for group in shape.one_of:
        if not any(_present(item.get(name)) for name in group):
            raise ResponseShapeError(path, where, f"has neither {' nor '.join(group)}")


def _check_value(path: str, where: str, value: Any, kind: str, *, required: bool) -> None:
    if not isinstance(value, dict if kind == OBJECT else str):
        raise ResponseShapeError(path, where, f"is {_a(value)}, expected {_EXPECTED[kind]}")
    if isinstance(value, str):
        if kind == ID and required and not value.strip():
            raise ResponseShapeError(path, where, "is an empty id")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ResponseShapeError(path, where, "is not valid Unicode text (a lone surrogate)") from None


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _a(value: Any) -> str:
    name = {bool: "a bool", int: "an integer", float: "a float", dict: "an object", list: "a list", str: "text"}.get(
        type(value)
    )
    return name or f"a {type(value).__name__}"


__all__ = ["ASSET_MEMBER", "BC", "MEMBER", "PARTNER", "PARTNER_ASSET", "Shape", "check_items"]
