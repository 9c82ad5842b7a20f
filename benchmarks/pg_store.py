"""pg_store: the PostgreSQL store beside the DuckDB file, in one run, on a throwaway PostgreSQL 15 cluster
(tools/pgcluster.py: local, durability off as in the tests, so the figures are the store's work, not the disk's).

1. Store upsert: 200,000 members (50 partners × 4,000) already stored, 5% changed, every partner's snapshot
   handed to the sync's write path at once (`group_commit.write_snapshot`, the group commit), as
   benchmarks/store_upsert.py measures on DuckDB. Headline: seconds on PostgreSQL (target < 2 s), with DuckDB's
   seconds measured in the same run.
2. Members page at 1,000,000 members: the synthetic database of benchmarks/members_query.py copied into
   PostgreSQL with `migrate-store` (core/store/transfer.py, also timed), then the same page-view mix on both;
   p50 and p95 of a page view (target p95 < 0.15 s on PostgreSQL).
3. Export of those members (every one, removed included: 1,000,000 rows at full size) through
   `export.stream_members`, the download's own path, consumed as the route does; seconds on each store and
   whether both streamed the same bytes (SHA-256 of the CSV).
4. Tasks claimed per second by two worker processes on PostgreSQL (benchmarks/pg_claims.py: many no-op tasks,
   each checked to have run exactly once).

Cost curve: 10k, 100k and 1M members (the members_query databases, 4,000 per partner), the upsert of a fifth of
them (200,000 at 1M, as above) and a task per 500 of them claimed (2,000 at 1M), the cost being the page view's p95
on PostgreSQL, beside DuckDB's, each store's upsert and export seconds, `migrate-store`'s and the claims'. 5M
members is left out: `migrate-store` of 1M members alone takes minutes on this machine.
The cached members database is copied before `migrate-store` opens it (opening applies newer migrations, and
other benchmarks share the cached file).
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks import datagen, members_query, pg_claims, store_upsert
from benchmarks.common import load_average, percentile
from benchmarks.curves import Curve
from core.members import export
from core.members.filters import MemberFilter
from core.security.roles import ANALYST, Actor
from core.store import transfer
from core.store.database import Store
from tools.pgcluster import Cluster

NAME = "pg_store"
TARGET_UPSERT_S = 2.0
TARGET_PAGE_P95_S = 0.15
CURVE = Curve(
    "members",
    full=(10_000, 100_000, 1_000_000),
    quick=members_query.DATABASE_SIZES["quick"],
    tiny=members_query.DATABASE_SIZES["tiny"],
    costs=(
        "page_p95_s.postgresql",
        "page_p95_s.duckdb",
        "upsert_s.postgresql",
        "upsert_s.duckdb",
        "export_s.postgresql",
        "export_s.duckdb",
        "migrate_store_s",
        "task_claims.seconds",
    ),
    headline=2,
)
UPSERT_SHARE = 5  # a fifth of the members upserted (200,000 at 1M)
CLAIMS_PER = 500  # a task claimed per 500 members (2,000 at 1M)
MIN_CLAIMS = 40
REPEATS = 2
EXPORT_ACTOR = Actor("bench@partnerwatch.local", ANALYST)


def _database(cluster: Cluster, name: str) -> str:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


def _upsert(target: str, members: int) -> tuple[float, int]:
    """Seconds to write every partner's changed snapshot at once into a store holding the base snapshots."""
    partners, per_partner = members_query.shape(members)
    base = [datagen.snapshot(p, per_partner) for p in range(partners)]
    changed = [datagen.changed(s, store_upsert.CHANGE_SHARE, seed=p) for p, s in enumerate(base)]
    store_upsert._seed(target, base).close()  # a path or a URL: Store opens either
    store = Store(target)
    try:
        started = time.perf_counter()
        store_upsert._write_all_at_once(store, changed, task_id=2)
        return time.perf_counter() - started, sum(len(s.members) for s in changed)
    finally:
        store.close()


def _page_views(store: Store, repeats: int) -> tuple[float, float, str]:
    views, _, _, slowest = members_query._page_views(store, repeats)
    worst = max(slowest, key=lambda label: slowest[label])
    return round(statistics.median(views), 4), round(percentile(views, 95), 4), worst


def _export(store: Store) -> tuple[float, int, str]:
    """Seconds, rows and SHA-256 of the export of every member (removed included), streamed as the route does."""
    digest, rows = hashlib.sha256(), 0
    started = time.perf_counter()
    for chunk in export.stream_members(store, MemberFilter(include_removed=True), actor=EXPORT_ACTOR, via="bench"):
        digest.update(chunk)
        rows += chunk.count(b"\r\n")  # upper bound: a quoted cell may hold CRLF
    return time.perf_counter() - started, rows - 1, digest.hexdigest()


def run_at(members: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="pw-bench-pg-") as tmp, Cluster() as cluster:
        pg_upsert_s, upserted = _upsert(_database(cluster, "upsert"), members // UPSERT_SHARE)
        duck_upsert_s, _ = _upsert(str(Path(tmp) / "upsert.duckdb"), members // UPSERT_SHARE)

        local = Path(tmp) / "members.duckdb"
        shutil.copy(members_query.database_of(members), local)  # opening it migrates it: a copy of the cached file
        target = _database(cluster, "members")
        started = time.perf_counter()
        copied = transfer.copy_store(local, target)
        migrate_s = time.perf_counter() - started
        pg = Store(target)
        with pg.write() as cur:
            cur.execute("ANALYZE")
        pg_p50, pg_p95, pg_worst = _page_views(pg, REPEATS)
        pg_export_s, exported, pg_digest = _export(pg)
        pg.close()
        duck_store = Store(local)
        duck_p50, duck_p95, _ = _page_views(duck_store, REPEATS)
        duck_export_s, _, duck_digest = _export(duck_store)
        duck_store.close()
        claims = pg_claims.measure(_database(cluster, "claims"), max(MIN_CLAIMS, members // CLAIMS_PER))
    return {
        "value": round(pg_p95, 4),
        "unit": "s",
        "target": TARGET_PAGE_P95_S,
        "met": pg_p95 < TARGET_PAGE_P95_S and pg_upsert_s < TARGET_UPSERT_S,
        "members": copied.tables.get("members", 0),
        "page_p50_s": {"postgresql": pg_p50, "duckdb": duck_p50},
        "page_p95_s": {"postgresql": pg_p95, "duckdb": duck_p95},
        "slowest_case_postgresql": pg_worst,
        "upsert_members": upserted,
        "upsert_s": {"postgresql": round(pg_upsert_s, 3), "duckdb": round(duck_upsert_s, 3)},
        "upsert_target_s": TARGET_UPSERT_S,
        "export_rows": exported,
        "export_s": {"postgresql": round(pg_export_s, 3), "duckdb": round(duck_export_s, 3)},
        "export_same_bytes": pg_digest == duck_digest,
        "tasks_claimed_per_s_postgresql": claims["tasks_per_s"],
        "task_claims": claims,
        "migrate_store_s": round(migrate_s, 1),
        "migrate_store_rows": copied.rows,
        "load_average_1m": load_average(),
    }
