"""What each emulated endpoint accepts, from TikTok's SDK definitions (yml_files/, commit f809c396520d):
per-endpoint `asset_type` values, `filtering` keys with their enum values and string limits, page sizes.
`tests/sandbox/test_conformance.py` checks the handlers against the vendored yml files."""

from __future__ import annotations

from typing import NamedTuple

from sandbox.models import ASSET_TYPES, RELATION_STATUSES, USER_ROLES


class Key(NamedTuple):
    """One `filtering` key: allowed values (None: free text) and maximum length (None: none stated)."""

    choices: tuple[str, ...] | None = None
    max_length: int | None = None


TEXT = Key()
SHARE_TYPES = ("SHARED", "SHARING")
RELATION_TYPES = ("OWNER_BC", "OWNER_PARTNER", "OWNER_INDIVIDUAL")
SHOW_STATUSES = (
    "SHOW_ACCOUNT_STATUS_APPROVED",
    "SHOW_ACCOUNT_STATUS_IN_REVIEW",
    "SHOW_ACCOUNT_STATUS_NOT_APPROVED",
    "SHOW_ACCOUNT_STATUS_PUNISHED",
)
TT_ACCOUNT_ROLES = ("DIRECT_MESSAGE", "LIVE", "POST")  # enum of bc/asset/assign's tt_account_roles
_NO_DOMAIN = tuple(t for t in ASSET_TYPES if t != "DOMAIN")

ASSET_TYPES_OF: dict[str, tuple[str, ...]] = {
    "bc/partner/asset/get/": ("ADVERTISER", "CATALOG", "DOMAIN"),
    "bc/asset/get/": _NO_DOMAIN,
    "bc/asset/admin/get/": _NO_DOMAIN,
    "bc/asset/member/get/": ("ADVERTISER", "CATALOG", "LEAD"),
    "bc/asset/partner/get/": ASSET_TYPES,
}

FILTERS: dict[str, dict[str, Key]] = {
    "bc/get/": {
        "keyword": TEXT,
        "keyword_type": Key(("ASSET", "MEMBER", "PARTNER", "TIER")),
        "relation_type": Key(("PARENT", "CHILD")),
    },
    "bc/member/get/": {"keyword": TEXT, "user_role": Key(USER_ROLES), "relation_status": Key(RELATION_STATUSES)},
    "bc/partner/get/": {"name": TEXT},
    "bc/partner/asset/get/": {"keyword": TEXT},
    "bc/asset/get/": {"keyword": TEXT, "user_id": TEXT, "user_email": TEXT},
    "bc/asset/admin/get/": {
        "keyword": TEXT,
        "relation_type": Key(RELATION_TYPES),
        "relation_status": Key(RELATION_STATUSES),
        "advertiser_show_status": Key(SHOW_STATUSES),
    },
    "bc/asset/member/get/": {"keyword": Key(max_length=250)},
    "bc/asset/partner/get/": {"keyword": TEXT},
}
