"""core/tiktok/endpoints.py against TikTok's own SDK definitions (tests/support/tiktok_definitions/*.yml): every
endpoint PartnerWatch calls has a row, and each row accepts exactly what the definition marks valid."""

from __future__ import annotations

import pytest

from core.tiktok.endpoints import ASSET_TYPES, ENDPOINTS, SHARING_BY_ASSET
from tests.support.tiktok_definitions.loader import Param, definitions

DEFINITIONS = definitions()


def _filter_rules(param: Param | None) -> dict[str, tuple[tuple[str, ...] | None, int | None]]:
    if param is None:
        return {}
    return {key: (tuple(sorted(p.valid)) or None, p.max_length) for key, p in param.properties.items()}


def test_every_defined_endpoint_has_a_row_and_no_row_lacks_a_definition() -> None:
    assert set(ENDPOINTS) == set(DEFINITIONS)


@pytest.mark.parametrize("path", sorted(DEFINITIONS))
def test_row_matches_the_definition(path: str) -> None:
    row, definition = ENDPOINTS[path], DEFINITIONS[path]
    params = definition.params
    asset_type, share_type = params.get("asset_type"), params.get("share_type")
    assert row.asset_types == (asset_type.valid if asset_type else ())
    assert row.share_types == (share_type.valid if share_type else ())
    table = {key: (tuple(sorted(f.choices)) if f.choices else None, f.max_length) for key, f in row.filters.items()}
    assert table == _filter_rules(params.get("filtering"))
    page_size = params.get("page_size")
    assert row.max_page_size == (page_size.maximum if page_size else None)
    assert tuple(sorted(row.item_fields)) == definition.item_fields


@pytest.mark.parametrize("path", sorted(DEFINITIONS))
def test_asset_types_the_definition_marks_invalid_are_refused(path: str) -> None:
    row, asset_type = ENDPOINTS[path], DEFINITIONS[path].params.get("asset_type")
    for value in asset_type.invalid if asset_type else ():
        with pytest.raises(ValueError, match="asset_type"):
            row.check(asset_type=value)
    for value in asset_type.valid if asset_type else ():
        row.check(asset_type=value)


def test_every_asset_type_is_listed_by_one_of_the_two_paths() -> None:
    served = set(ENDPOINTS["bc/partner/asset/get/"].asset_types) | set(SHARING_BY_ASSET)
    assert served == set(ASSET_TYPES)
    assert set(SHARING_BY_ASSET) <= set(ENDPOINTS["bc/asset/partner/get/"].asset_types)


def test_filter_keys_values_and_lengths_are_checked() -> None:
    member_assets, admin_assets = ENDPOINTS["bc/asset/member/get/"], ENDPOINTS["bc/asset/admin/get/"]
    member_assets.check(filtering={"keyword": "x" * 250})
    with pytest.raises(ValueError, match="longer than 250"):
        member_assets.check(filtering={"keyword": "x" * 251})
    with pytest.raises(ValueError, match="no filtering key 'relation_status'"):
        member_assets.check(filtering={"relation_status": "BOUND"})
    with pytest.raises(ValueError, match="filtering.relation_status"):
        admin_assets.check(filtering={"relation_status": "REJECT"})
