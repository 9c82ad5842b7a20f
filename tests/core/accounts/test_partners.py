"""Partner statuses and the atomic partner/asset writes."""

from datetime import UTC, datetime

import pytest

from core.accounts import partners


@pytest.mark.parametrize(
    ("connection", "shared_with", "shared_by", "status"),
    [
        ("none", 0, 0, partners.NOT_ELIGIBLE),
        ("none", 1, 0, partners.PENDING_ONBOARDING),
        ("none", 0, 2, partners.PENDING_ONBOARDING),
        ("connected", 3, 1, partners.ONBOARDED),
        ("reconnect_required", 3, 1, partners.RECONNECT_REQUIRED),
        ("sync_failed", 3, 1, partners.SYNC_FAILED),
        ("safeguard_halted", 3, 1, partners.HALTED_SAFEGUARD),
        ("disconnected", 3, 1, partners.DISCONNECTED),
    ],
)
def test_derive_status(connection, shared_with, shared_by, status):
    assert partners.derive_status(connection, shared_with, shared_by) == status
    assert status in partners.STATUSES


def test_partner_list_upsert_and_removal(store):
    now = datetime.now(UTC)
    with store.write() as cur:
        assert partners.apply_partner_list(
            cur, [{"bc_id": "1", "bc_name": "A"}, {"bc_id": "2", "bc_name": "B"}], now
        ) == (2, 0, 0)
    with store.write() as cur:
        assert partners.apply_partner_list(
            cur, [{"bc_id": "2", "bc_name": "B2"}, {"bc_id": "3", "bc_name": "C"}], now
        ) == (1, 1, 1)
    current = {p.bc_id: p.name for p in partners.all_current(store)}
    assert current == {"2": "B2", "3": "C"}
    assert partners.get(store, "1") is None
    with store.write() as cur:  # a partner that comes back is current again
        partners.apply_partner_list(cur, [{"bc_id": "1", "bc_name": "A"}], now)
    assert partners.get(store, "1").name == "A"


def test_assets_replace_and_counts_drive_status(store):
    now = datetime.now(UTC)
    with store.write() as cur:
        partners.apply_partner_list(cur, [{"bc_id": "9", "bc_name": "Agency"}], now)
        partners.replace_assets(
            cur,
            "9",
            [
                {"asset_id": "a1", "asset_type": "ADVERTISER", "asset_name": "x", "share_type": "SHARING"},
                {"asset_id": "a2", "asset_type": "PIXEL", "asset_name": "y", "share_type": "SHARING"},
                {"asset_id": "b1", "asset_type": "ADVERTISER", "asset_name": "z", "share_type": "SHARED"},
            ],
            now,
        )
    p = partners.get(store, "9")
    assert (p.assets_shared_with_partner, p.assets_shared_by_partner) == (2, 1)
    assert p.status == partners.PENDING_ONBOARDING
    with store.write() as cur:
        partners.replace_assets(cur, "9", [], now)
    assert partners.get(store, "9").status == partners.NOT_ELIGIBLE
    assert partners.assets(store, "9").empty
    table = partners.table(store)
    assert table.loc[0, "status"] == partners.NOT_ELIGIBLE
    assert table.loc[0, "guest_users"] == 0


def test_failed_write_leaves_previous_assets(store):
    now = datetime.now(UTC)
    with store.write() as cur:
        partners.apply_partner_list(cur, [{"bc_id": "9", "bc_name": "Agency"}], now)
        partners.replace_assets(
            cur, "9", [{"asset_id": "a1", "asset_type": "ADVERTISER", "share_type": "SHARING"}], now
        )
    with pytest.raises(KeyError), store.write() as cur:
        partners.replace_assets(cur, "9", [{"asset_id": "a2", "asset_type": "ADVERTISER"}], now)  # no share_type
    assert partners.assets(store, "9")["asset_id"].tolist() == ["a1"]
