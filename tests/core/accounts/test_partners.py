"""Partner statuses, the atomic partner/asset writes, and the Partners table's and chart's counts."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from benchmarks import datagen
from core.accounts import partners
from core.sync import member_write
from core.tiktok import labels


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


# The counts as the Partners table and chart read them before they shared one scan of the members (`member_counts`)
_TABLE_COUNTS = """SELECT p.bc_id, coalesce(m.guest_users, 0) AS guest_users, coalesce(m.admins, 0) AS admins
                   FROM partners p LEFT JOIN (
                       SELECT partner_bc_id, count(*) AS guest_users,
                              count(*) FILTER (WHERE user_role = 'ADMIN') AS admins
                       FROM members WHERE removed_at IS NULL GROUP BY partner_bc_id
                   ) m ON m.partner_bc_id = p.bc_id
                   WHERE p.removed_at IS NULL ORDER BY lower(p.name), p.bc_id"""
_CHART = """SELECT p.name AS partner, m.user_role AS role, count(*) AS guest_users
            FROM members m JOIN partners p ON p.bc_id = m.partner_bc_id
            WHERE m.removed_at IS NULL AND p.removed_at IS NULL
            GROUP BY p.name, m.user_role ORDER BY partner, role"""


def _listed(*partners_: tuple[str, str]) -> list[dict[str, str]]:
    return [{"bc_id": bc_id, "bc_name": name} for bc_id, name in partners_]


def test_the_table_and_the_chart_count_the_current_guest_users_of_current_partners(store):
    now = datetime.now(UTC)
    base = [datagen.snapshot(p, 60) for p in range(4)]
    ids = [s.partner_bc_id for s in base]
    names = ["beta", "Alpha", "Zeta", "Alpha"]  # two partners of one name: the chart adds them up, as before
    with store.write() as cur:
        partners.apply_partner_list(cur, _listed(*zip(ids, names, strict=True), ("no-members", "Empty")), now)
    with store.write() as cur:
        for snap in [*base[:3], datagen.changed(base[3], 0.5)]:  # a change leaves some members removed
            member_write.apply(cur, snap, partner_name=snap.partner_bc_id, task_id=1, now=now, threshold=100.0)
    with store.write() as cur:
        member_write.apply(cur, datagen.changed(base[0], 0.5), partner_name="x", task_id=2, now=now, threshold=100.0)
        # the third partner leaves the list: neither its row nor its bar, though it has members
        listed = _listed((ids[0], "beta"), (ids[1], "Alpha"), (ids[3], "Alpha"), ("no-members", "Empty"))
        partners.apply_partner_list(cur, listed, now)
    with store.read() as cur:
        expected_counts = cur.execute(_TABLE_COUNTS).df()
        expected_chart = cur.execute(_CHART).df()
    assert set(expected_chart["role"]) >= {"ADMIN", "STANDARD"}
    assert (expected_counts["guest_users"] == 0).sum() == 1  # the partner without members

    counts = partners.member_counts(store)
    for given in (None, counts):
        table = partners.table(store, given)
        pd.testing.assert_frame_equal(table[["bc_id", "guest_users", "admins"]], expected_counts)
        assert list(table.columns) == [
            "name", "bc_id", "assets_shared_with_partner", "assets_shared_by_partner", "status", "guest_users",
            "admins", "last_sync_at", "last_error",
        ]  # fmt: skip
        chart = partners.members_by_role(store, given)
        pd.testing.assert_frame_equal(
            chart, expected_chart.assign(role=[labels.label("role", r) for r in expected_chart["role"]])
        )
