"""The member diff (`member_write.apply`, Arrow + DuckDB) against its pure-Python reference (`make_plan`):
random rounds of role, finance and status changes, removals, returns, new members and invitees re-keyed both
ways must give the same member rows, change rows and counts, reach columns and `member_assets`. Several
partners written together (`apply_many`, the group commit) must give what writing them one by one gives."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

import pytest

from core.store.database import Store
from core.sync import member_write
from core.sync.member_tables import MEMBER_SCHEMA, Snapshot
from tests.support import reference_plan
from tests.support.backends import Backend
from tests.support.member_rows import BC, T0, mutate_members, random_member, random_snapshot


def _rows(store: Store) -> list[dict]:
    with store.read() as cur:
        return sorted(reference_plan.stored_members(cur, BC).values(), key=lambda r: r["member_key"])


def _changes(store: Store, task_id: int) -> list[tuple]:
    with store.read() as cur:
        return cur.execute(
            "SELECT member_key, change, old_value, new_value FROM member_changes WHERE task_id = ? ORDER BY id",
            [task_id],
        ).fetchall()


@pytest.mark.parametrize("seed", range(6))
def test_sql_diff_matches_make_plan(backend: Backend, seed: int) -> None:
    rng = random.Random(seed)
    store = backend.open()
    with store.write() as cur:
        cur.execute("INSERT INTO partners (bc_id, name, connection) VALUES (?, 'Agency', 'connected')", [BC])
    members = dict(random_member(i, rng, invitee=rng.random() < 0.3) for i in range(40))
    gone: dict[str, dict] = {}
    next_id = [40]
    for task_id in range(1, 8):
        if task_id > 1:
            mutate_members(members, gone, rng, next_id)
        snap = random_snapshot(members, rng)
        now = T0 + timedelta(days=task_id)
        stored = {row["member_key"]: row for row in _rows(store)}
        plan = reference_plan.make_plan(stored, snap.members, partner_bc_id=BC, task_id=task_id, now=now)
        with store.write() as cur:
            counts = member_write.apply(cur, snap, partner_name="Agency", task_id=task_id, now=now, threshold=100)
        assert counts == plan.counts
        assert _rows(store) == sorted(
            ({n: r[n] for n in MEMBER_SCHEMA.names} for r in plan.rows), key=lambda r: r["member_key"]
        )
        assert _changes(store, task_id) == [
            (c["member_key"], c["change"], c["old_value"], c["new_value"]) for c in plan.changes
        ]
        reach = _reach(store)
        assert reach == _reach_of(snap, reach)
        assert _derived_columns_stale(store) == []
        assert _assets(store) == {
            (r["member_key"], r["asset_id"], r["asset_type"], r["asset_name"], r["asset_role"], now)
            for r in snap.asset_roles
        }


def _assets(store: Store) -> set[tuple]:
    """`member_assets` (only changed rows are rewritten, so kept, changed, new and gone must all be right)."""
    with store.read() as cur:
        return set(
            cur.execute(
                "SELECT member_key, asset_id, asset_type, asset_name, asset_role, synced_at "
                "FROM member_assets WHERE partner_bc_id = ?",
                [BC],
            ).fetchall()
        )


def _derived_columns_stale(store: Store) -> list[tuple]:
    """Rows whose search columns (migration 008) or row flag count (010) disagree with the fields they are
    derived from."""
    with store.read() as cur:
        return cur.execute("""SELECT member_key FROM members WHERE
            member_lower IS DISTINCT FROM lower(coalesce(user_name, user_email))
            OR email_lower IS DISTINCT FROM lower(user_email)
            OR email_domain IS DISTINCT FROM split_part(lower(user_email), '@', 2)
            OR row_flag_count IS DISTINCT FROM (user_role IS NOT DISTINCT FROM 'ADMIN')::INT
                + (finance_role IS NOT DISTINCT FROM 'MANAGER')::INT
                + (relation_status IS NOT DISTINCT FROM 'PENDING')::INT + coalesce(asset_admin, false)::INT
            """).fetchall()


def _reach(store: Store) -> dict[str, tuple[int, bool]]:
    """Each member's stored reach columns (only rows that changed are rewritten, so they must carry over)."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT member_key, asset_count, asset_admin FROM members WHERE partner_bc_id = ?", [BC]
        ).fetchall()
    return {key: (count, admin) for key, count, admin in rows}


def _reach_of(snap: Snapshot, keys: Iterable[str]) -> dict[str, tuple[int, bool]]:
    with_assets: dict[str, set[tuple[str, str]]] = {}
    admin: set[str] = set()
    for role in snap.asset_roles:
        with_assets.setdefault(role["member_key"], set()).add((role["asset_id"], role["asset_type"]))
        if role["asset_role"] == "ADMIN":
            admin.add(role["member_key"])
    return {key: (len(with_assets.get(key, ())), key in admin) for key in keys}


def test_reach_columns_are_written_with_the_rows(backend: Backend) -> None:
    store = backend.open()
    roles = [
        {"member_key": "1", "asset_id": "a2", "asset_type": "ADVERTISER", "asset_name": "Zeta", "asset_role": "ADMIN"},
        {"member_key": "1", "asset_id": "a1", "asset_type": "CATALOG", "asset_name": None, "asset_role": None},
    ]
    fields = {
        "user_id": "1",
        "user_name": "U",
        "user_email": "u@a.example",
        "user_role": "STANDARD",
        "finance_role": None,
        "relation_status": "BOUND",
    }
    snap = Snapshot(BC, {"1": fields, "2": fields | {"user_id": "2"}}, roles)
    with store.write() as cur:
        member_write.apply(cur, snap, partner_name="Agency", task_id=1, now=T0, threshold=100)
    with store.read() as cur:
        rows = cur.execute("SELECT member_key, asset_count, assets, asset_admin FROM members ORDER BY 1").fetchall()
    assert rows == [("1", 2, "Zeta (ADVERTISER: ADMIN); a1 (CATALOG: ?)", True), ("2", 0, "", False)]
