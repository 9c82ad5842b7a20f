"""store_upsert: upsert and diff of 200,000 members (50 partners × 4,000) into a store already holding
them, with 5% of them changed, through the sync's own write path: each partner's snapshot handed to
`group_commit.write_snapshot` from its own thread, as Check for updates does when a partner's fetch ends, all
50 ready at once (the group commit then writes the partners queued behind the first in one transaction).
Headline: seconds for all 50 partners (target < 2 s). Also measured: one transaction per partner, one after
the other (`member_write.apply` in a loop: what a sync pays when fetches finish one at a time).

Baseline: the same plan written row by row with `executemany` (members upserted with
`INSERT ... ON CONFLICT DO UPDATE`, reach and change rows inserted one by one), the usual ORM-style
approach. It costs tens of milliseconds per row, so it runs on the first `BASELINE_MEMBERS` members of one
partner and is scaled linearly to all members (its cost is per row), which the figures say.

Cost curve: 40k, 200k and 1M members (4,000 per partner: 10, 50 and 250 partners, all ready at once), the
cost being the seconds of the grouped write, beside those of one transaction per partner.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks import datagen
from benchmarks.common import load_average, peak_rss_mib
from benchmarks.curves import Curve
from core.store.database import Store
from core.sync import group_commit, member_tables, member_write
from core.sync.group_commit import GroupWriter
from core.sync.member_tables import MEMBER_SCHEMA, Snapshot
from tests.support import reference_plan

NAME = "store_upsert"
TARGET_S = 2.0
PER_PARTNER, MIN_PARTNERS = 4000, 3
CURVE = Curve(
    "members",
    full=(40_000, 200_000, 1_000_000),
    quick=(12_000, 40_000, 100_000),
    tiny=(150, 300, 600),
    costs=("value", "cpu_s", "one_transaction_per_partner_s", "one_transaction_per_partner_cpu_s"),
)
BASELINE_MEMBERS = 1000  # at most; fewer below 200,000 members (n / 200)
CHANGE_SHARE = 0.05
_T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _write_all_at_once(store: Store, snapshots: list[Snapshot], task_id: int) -> tuple[int, list[int]]:
    """Every snapshot handed to the sync's write path at the same time; returns changes and batch sizes."""
    with ThreadPoolExecutor(max_workers=len(snapshots)) as pool:
        counts = list(
            pool.map(lambda snap: group_commit.write_snapshot(store, snap, snap.partner_bc_id, task_id), snapshots)
        )
    return sum(c.added + c.updated + c.removed for c in counts), GroupWriter.of(store).batch_sizes


def _apply_all(store: Store, snapshots: list[Snapshot], task_id: int, now: datetime) -> int:
    changes = 0
    for snap in snapshots:
        with store.write() as cur:
            counts = member_write.apply(
                cur, snap, partner_name=snap.partner_bc_id, task_id=task_id, now=now, threshold=100.0
            )
        changes += counts.added + counts.updated + counts.removed
    return changes


def _seed(path: Path, snapshots: list[Snapshot]) -> Store:
    store = Store(path)
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [[s.partner_bc_id, f"Agency {s.partner_bc_id[-3:]}"] for s in snapshots],
        )
    _apply_all(store, snapshots, task_id=1, now=_T0)
    return store


_UPSERT = (
    f"INSERT INTO members ({', '.join(MEMBER_SCHEMA.names)}) VALUES ({', '.join('?' * len(MEMBER_SCHEMA))}) "
    "ON CONFLICT (partner_bc_id, member_key) DO UPDATE SET "
    + ", ".join(f"{n} = excluded.{n}" for n in MEMBER_SCHEMA.names[2:])
)


def _row_by_row(cur: duckdb.DuckDBPyConnection, snap: Snapshot, task_id: int, now: datetime) -> None:
    """The baseline: the same diff (the tests' plain-Python reference), written with executemany one row at a time."""
    stored = reference_plan.stored_members(cur, snap.partner_bc_id)
    plan = reference_plan.make_plan(stored, snap.members, partner_bc_id=snap.partner_bc_id, task_id=task_id, now=now)
    cur.executemany(_UPSERT, [[row[n] for n in MEMBER_SCHEMA.names] for row in plan.rows])
    cur.execute("DELETE FROM member_assets WHERE partner_bc_id = ?", [snap.partner_bc_id])
    assets = member_tables.asset_table(snap, now).to_pylist()
    for table, rows in (("member_assets", assets), ("member_changes", plan.changes)):
        if rows:
            names = list(rows[0])
            cur.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [list(r.values()) for r in rows],
            )


def _head(snap: Snapshot, n: int) -> Snapshot:
    """The snapshot's first `n` members (in key order) and their reach."""
    keys = set(sorted(snap.members)[:n])
    return Snapshot(
        snap.partner_bc_id,
        {k: v for k, v in snap.members.items() if k in keys},
        [r for r in snap.asset_roles if r["member_key"] in keys],
    )


def shape(members: int) -> tuple[int, int]:
    """(partners, members per partner) of about `members` members: 4,000 per partner, at least 3 partners."""
    partners = max(MIN_PARTNERS, math.ceil(members / PER_PARTNER))
    return partners, members // partners


def run_at(members: int) -> dict[str, object]:
    partners, per_partner = shape(members)
    base = [datagen.snapshot(p, per_partner) for p in range(partners)]
    changed = [datagen.changed(s, CHANGE_SHARE, seed=p) for p, s in enumerate(base)]
    later = _T0 + timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="pw-bench-upsert-") as tmp:
        _seed(Path(tmp) / "grouped.duckdb", base).close()
        shutil.copy(Path(tmp) / "grouped.duckdb", Path(tmp) / "one_by_one.duckdb")
        store = Store(Path(tmp) / "grouped.duckdb")
        started, cpu0 = time.perf_counter(), time.process_time()
        changes, batches = _write_all_at_once(store, changed, task_id=2)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
        store.close()
        store = Store(Path(tmp) / "one_by_one.duckdb")
        started, cpu0 = time.perf_counter(), time.process_time()
        _apply_all(store, changed, task_id=2, now=later)
        one_by_one_s, one_by_one_cpu = time.perf_counter() - started, time.process_time() - cpu0
        store.close()

        sample = min(per_partner, BASELINE_MEMBERS, max(50, members // 200))
        slow = _seed(Path(tmp) / "slow.duckdb", [_head(base[0], sample)])
        small = _head(changed[0], sample)
        started = time.perf_counter()
        with slow.write() as cur:
            _row_by_row(cur, small, 2, later)
        baseline_sample_s = time.perf_counter() - started
        slow.close()
    rows = sum(len(s.members) for s in changed)
    baseline_s = baseline_sample_s * rows / len(small.members)
    return {
        "value": round(seconds, 3),
        "unit": "s",
        "target": TARGET_S,
        "met": seconds < TARGET_S,
        "members": rows,
        "partners": partners,
        "changes_written": changes,
        "rows_per_s": round(rows / seconds),
        "cpu_s": round(cpu, 3),
        "group_commit_batches": batches,
        "one_transaction_per_partner_s": round(one_by_one_s, 3),
        "one_transaction_per_partner_cpu_s": round(one_by_one_cpu, 3),
        "baseline_executemany_s": round(baseline_s, 2),
        "baseline_measured_members": len(small.members),
        "speedup_vs_executemany": round(baseline_s / seconds, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "load_average_1m": load_average(),
    }
