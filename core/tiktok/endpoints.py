"""What each TikTok endpoint PartnerWatch calls accepts, as TikTok's own SDK definitions state it.

The one table of request rules (asset types, share types, filtering keys and their enum values, string
limits, page sizes) and of the list item fields each answer names. Source: the yml files of TikTok's
Business API SDK (tiktok/tiktok-business-api-sdk, `yml_files/`, commit f809c396520d), vendored in
`tests/support/tiktok_definitions/`; `tests/core/tiktok/test_endpoints_table.py` holds this table to them.

The client asks only what an endpoint accepts: `bc/partner/asset/get/` serves ADVERTISER, CATALOG and
DOMAIN only, `bc/asset/member/get/` ADVERTISER, CATALOG and LEAD only. Reach over the other asset types is
read another way (`bc/asset/admin/get/` + `bc/asset/partner/get/` on the customer's own BC) or is a known
limit (see docs/ARCHITECTURE.md, "Known limits of TikTok's API").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# TikTok's BCAsset enum, every value.
ASSET_TYPES = ("ADVERTISER", "CATALOG", "DOMAIN", "LEAD", "PIXEL", "STOREFRONT", "TIKTOK_SHOP", "TT_ACCOUNT")
SHARE_TYPES = ("SHARED", "SHARING")
RELATION_STATUSES = ("BOUND", "PENDING", "REJECTED", "UNBOUND")


@dataclass(frozen=True)
class Filter:
    """One key of an endpoint's `filtering` object: its allowed values (None: free text) and length limit."""

    choices: tuple[str, ...] | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """The request rules and named answer fields of one endpoint (an empty tuple: no such parameter)."""

    path: str
    asset_types: tuple[str, ...] = ()
    share_types: tuple[str, ...] = ()
    filters: Mapping[str, Filter] = field(default_factory=dict)
    max_page_size: int | None = None
    item_fields: tuple[str, ...] = ()

    def serves(self, asset_type: str) -> bool:
        return asset_type in self.asset_types

    def check(
        self,
        asset_type: str | None = None,
        share_type: str | None = None,
        filtering: Mapping[str, object] | None = None,
    ) -> None:
        """Raise ValueError for a request this endpoint's definition would refuse (40002)."""
        if asset_type is not None:
            _check_choice(self.path, "asset_type", asset_type, self.asset_types)
        if share_type is not None:
            _check_choice(self.path, "share_type", share_type, self.share_types)
        for key, value in (filtering or {}).items():
            rule = self.filters.get(key)
            if rule is None:
                raise ValueError(f"{self.path} has no filtering key {key!r}")
            if rule.choices is not None:
                _check_choice(self.path, f"filtering.{key}", str(value), rule.choices)
            if rule.max_length is not None and len(str(value)) > rule.max_length:
                raise ValueError(f"{self.path} filtering.{key} is longer than {rule.max_length} characters")


def _check_choice(path: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{path} {name} must be one of {', '.join(allowed)}, not {value!r}")


_KEYWORD = Filter()
_ASSET_FIELDS = (
    "ad_creation_eligible",
    "advertiser_account_type",
    "advertiser_role",
    "asset_id",
    "asset_name",
    "asset_type",
    "catalog_role",
    "owner_bc_name",
    "store_role",
    "tt_account_roles",
)
_NOT_DOMAIN = tuple(t for t in ASSET_TYPES if t != "DOMAIN")

BC_GET = Endpoint(
    "bc/get/",
    filters={
        "keyword": _KEYWORD,
        "keyword_type": Filter(("ASSET", "MEMBER", "PARTNER", "TIER")),
        "relation_type": Filter(("CHILD", "PARENT")),
    },
    max_page_size=50,
    item_fields=("bc_info", "binding_status", "ext_user_role", "user_role"),
)
MEMBER_GET = Endpoint(
    "bc/member/get/",
    filters={
        "keyword": _KEYWORD,
        "relation_status": Filter(RELATION_STATUSES),
        "user_role": Filter(("ADMIN", "STANDARD")),
    },
    item_fields=("ext_user_role", "relation_status", "user_email", "user_id", "user_name", "user_role"),
)
PARTNER_GET = Endpoint("bc/partner/get/", filters={"name": Filter()}, max_page_size=50)
PARTNER_ASSET_GET = Endpoint(
    "bc/partner/asset/get/",
    asset_types=("ADVERTISER", "CATALOG", "DOMAIN"),
    share_types=SHARE_TYPES,
    filters={"keyword": _KEYWORD},
    max_page_size=50,
)
ASSET_GET = Endpoint(
    "bc/asset/get/",
    asset_types=_NOT_DOMAIN,
    filters={"keyword": _KEYWORD, "user_email": Filter(), "user_id": Filter()},
    max_page_size=50,
    item_fields=_ASSET_FIELDS,
)
ASSET_ADMIN_GET = Endpoint(
    "bc/asset/admin/get/",
    asset_types=_NOT_DOMAIN,
    filters={
        "advertiser_show_status": Filter(
            (
                "SHOW_ACCOUNT_STATUS_APPROVED",
                "SHOW_ACCOUNT_STATUS_IN_REVIEW",
                "SHOW_ACCOUNT_STATUS_NOT_APPROVED",
                "SHOW_ACCOUNT_STATUS_PUNISHED",
            )
        ),
        "keyword": _KEYWORD,
        "relation_status": Filter(RELATION_STATUSES),
        "relation_type": Filter(("OWNER_BC", "OWNER_INDIVIDUAL", "OWNER_PARTNER")),
    },
    max_page_size=50,
    item_fields=(*_ASSET_FIELDS, "advertiser_status", "pixel_code", "relation_status", "relation_type"),
)
ASSET_MEMBER_GET = Endpoint(
    "bc/asset/member/get/",
    asset_types=("ADVERTISER", "CATALOG", "LEAD"),
    filters={"keyword": Filter(max_length=250)},
    max_page_size=20,
)
ASSET_PARTNER_GET = Endpoint(
    "bc/asset/partner/get/", asset_types=ASSET_TYPES, filters={"keyword": _KEYWORD}, max_page_size=50
)
ADVERTISER_INFO = Endpoint("advertiser/info/")

ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        BC_GET,
        MEMBER_GET,
        PARTNER_GET,
        PARTNER_ASSET_GET,
        ASSET_GET,
        ASSET_ADMIN_GET,
        ASSET_MEMBER_GET,
        ASSET_PARTNER_GET,
        ADVERTISER_INFO,
    )
}

# Asset types whose partner reach `bc/partner/asset/get/` cannot list: read per asset of the customer's own
# BC (`bc/asset/admin/get/` OWNER_BC, then `bc/asset/partner/get/`). Only the SHARING direction is reachable.
SHARING_BY_ASSET = tuple(t for t in ASSET_TYPES if not PARTNER_ASSET_GET.serves(t) and ASSET_ADMIN_GET.serves(t))

# Known limits of TikTok's API, shown as captions on the Partners and Members pages.
PARTNERS_LIMIT = (
    "Assets a partner shares with you are listed for ad accounts, catalogs and domains only: TikTok lists no "
    "partner-owned Leads, Pixels, Storefronts, TikTok Shops or TikTok accounts."
)
MEMBERS_LIMIT = (
    "Assets reached are listed for ad accounts, catalogs and leads: TikTok does not say which partner members "
    "reach a shared Domain, Pixel, Storefront, TikTok Shop or TikTok account."
)

__all__ = [
    "ASSET_TYPES",
    "ENDPOINTS",
    "MEMBERS_LIMIT",
    "PARTNERS_LIMIT",
    "SHARE_TYPES",
    "SHARING_BY_ASSET",
    "Endpoint",
    "Filter",
]
