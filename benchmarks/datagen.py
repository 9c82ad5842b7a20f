"""Data generators of the benchmarks: synthetic members loaded in bulk into a migrated DuckDB store, and
in-memory TikTok snapshots (what `bc/member/get/` would return) with a chosen share of changes.

Everything is deterministic: values come from DuckDB's `hash()` of the row number (SQL loads) or from
`random.Random(seed)` (snapshots). The shape follows the sandbox world: ~10% admins, finance roles,
mostly BOUND members, PENDING invitees keyed by e-mail, personal mailboxes, names that start with `=`
or `+` (the CSV export must neutralise them), ~30% of members reaching one or two shared assets, a
baseline sync plus a later sync with a few changes, and ~3% removed members.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.store.database import MIGRATIONS_DIR, Store
from core.sync.member_tables import Snapshot, member_key

PARTNER_BASE = 7_300_000_000_000_000_000
USER_BASE = 7_400_000_000_000_000_000
ASSET_BASE = 7_500_000_000_000_000_000
BASELINE_TASK, LATEST_TASK = 1, 2
# The bulk load is one transaction of up to millions of rows, which DuckDB cannot commit within the store's
# default memory limit (1M members failed at 256 MiB); the benchmarks then open the file with the default.
LOAD_MEMORY_MIB = 8192

_MEMBERS_SQL = """
INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, user_role, finance_role,
                     relation_status, first_seen, last_seen, removed_at, first_task_id, added_task_id,
                     last_task_id)
WITH g AS (
    SELECT p, i, hash(p * $m + i) % 1000 AS h, hash(p * $m + i + 7919) % 1000 AS h2
    FROM range($partners) a(p), range($m) b(i)),
s AS (
    SELECT *, CASE WHEN h < 850 THEN 'BOUND' WHEN h < 920 THEN 'PENDING' WHEN h < 960 THEN 'REJECTED'
                   ELSE 'UNBOUND' END AS status,
           CASE WHEN h2 < 50 THEN 'gmail.com' WHEN h2 < 70 THEN 'outlook.com'
                ELSE 'agency' || p || '.example' END AS domain
    FROM g)
SELECT ($pbase + p)::VARCHAR,
       CASE WHEN status = 'PENDING' THEN 'user' || i || '@' || domain ELSE ($ubase + p * $m + i)::VARCHAR END,
       CASE WHEN status = 'PENDING' THEN NULL ELSE ($ubase + p * $m + i)::VARCHAR END,
       CASE WHEN status = 'PENDING' THEN NULL WHEN h2 % 97 = 0 THEN '=HYPERLINK("x")' || i
            WHEN h2 % 89 = 0 THEN '+' || i ELSE 'Member ' || i || ' Ünïcode' END,
       'user' || i || '@' || domain,
       CASE WHEN h2 % 10 = 0 THEN 'ADMIN' ELSE 'STANDARD' END,
       CASE WHEN h2 % 33 = 0 THEN 'MANAGER' WHEN h2 % 20 = 0 THEN 'ANALYST' END,
       status, $first, $last,
       CASE WHEN h % 31 = 0 THEN $last END,
       $t1, CASE WHEN h2 % 101 = 0 THEN $t2 ELSE $t1 END, $t2
FROM s"""

_ASSETS_SQL = """
INSERT INTO member_assets (partner_bc_id, member_key, asset_id, asset_type, asset_name, asset_role, synced_at)
SELECT m.partner_bc_id, m.member_key, (($abase + hash(m.partner_bc_id) % 1000000 * 3 + a.k))::VARCHAR,
       'ADVERTISER', 'Acme Ads ' || a.k, CASE WHEN hash(m.member_key) % 5 = 0 THEN 'ADMIN' ELSE 'OPERATOR' END,
       $last
FROM members m, range(2) a(k)
WHERE m.relation_status = 'BOUND' AND (hash(m.member_key) % 10 < 3) AND (a.k = 0 OR hash(m.member_key) % 2 = 0)"""

_CHANGES_SQL = """
INSERT INTO member_changes (task_id, partner_bc_id, member_key, change, old_value, new_value, changed_at)
SELECT $t1, partner_bc_id, member_key, 'added', NULL, user_role, $first FROM members
UNION ALL
SELECT $t2, partner_bc_id, member_key, 'added', NULL, user_role, $last FROM members WHERE added_task_id = $t2
UNION ALL
SELECT $t2, partner_bc_id, member_key, 'removed', user_role, NULL, $last FROM members WHERE removed_at IS NOT NULL
UNION ALL
SELECT $t2, partner_bc_id, member_key, 'role_changed', 'STANDARD', 'ADMIN', $last FROM members
WHERE user_role = 'ADMIN' AND hash(member_key) % 7 = 0"""


def _backfill_sql(migration: str, start: str = "UPDATE members", stop: str | None = None) -> str:
    """The backfill statement of a migration that derives `members` columns, or another table (`start`: its first
    words; `stop`: what follows it, when it is not the migration's last), as the sync writes them."""
    text = (MIGRATIONS_DIR / migration).read_text()
    begin = text.index(start)
    return text[begin : text.index(stop, begin) if stop else None]


_LATEST_SQL = _backfill_sql("016_sync_summaries.sql", "INSERT INTO member_sync_latest", "CREATE TABLE")
_COUNTS_SQL = _backfill_sql("016_sync_summaries.sql", "INSERT INTO member_change_counts")


LAST_SYNC = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def synthetic_store(
    path: Path, partners: int, members_per_partner: int, *, days: int = 7, latest_task: int = LATEST_TASK
) -> Store:
    """A migrated store holding `partners` × `members_per_partner` members with assets, syncs and changes: a
    baseline sync (task 1) `days` before the latest sync (`latest_task`)."""
    store = Store(path, memory_limit_mib=LOAD_MEMORY_MIB)
    last = LAST_SYNC
    values = {
        "partners": partners,
        "m": members_per_partner,
        "pbase": PARTNER_BASE,
        "ubase": USER_BASE,
        "abase": ASSET_BASE,
        "first": last - timedelta(days=days),
        "last": last,
        "t1": BASELINE_TASK,
        "t2": latest_task,
    }
    with store.write() as cur:
        cur.execute(
            """INSERT INTO partners (bc_id, name, connection, first_seen, last_seen, last_sync_at,
                                     assets_shared_with_partner)
               SELECT ($pbase + p)::VARCHAR, CASE WHEN p % 5 = 0 THEN 'Agentur Müller ' ELSE 'Agency ' END || p,
                      'connected', $first, $last, $last, 2 FROM range($partners) t(p)""",
            {k: values[k] for k in ("pbase", "partners", "first", "last")},
        )
        cur.execute(
            _MEMBERS_SQL, {k: values[k] for k in ("m", "partners", "pbase", "ubase", "first", "last", "t1", "t2")}
        )
        cur.execute(_ASSETS_SQL, {k: values[k] for k in ("abase", "last")})
        cur.execute(_backfill_sql("006_member_reach.sql"))  # reach on the shared assets
        cur.execute(_backfill_sql("008_member_search_columns.sql"))  # lower-cased search and sort text
        cur.execute(_backfill_sql("010_member_row_flags.sql"))  # how many row flags each member has
        cur.execute(_CHANGES_SQL, {k: values[k] for k in ("t1", "t2", "first", "last")})
        cur.execute(
            """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed,
                                         removed)
               SELECT t.task_id, bc_id, CASE t.task_id WHEN $t1 THEN $first ELSE $last END, t.task_id = $t1,
                      $m, 0, 0, 0
               FROM partners, (VALUES ($t1), ($t2)) t(task_id)""",
            {k: values[k] for k in ("t1", "t2", "first", "last", "m")},
        )
        cur.execute(_LATEST_SQL)  # the syncs' and changes' summaries, as the sync writes them
        cur.execute(_COUNTS_SQL)
    return store


# -- a year of daily syncs, for the history benchmark ---------------------------------------------

# Day k's Check for updates is task k * stride + 1 (stride = partners + 2), its partner list job the next id
# and its partner jobs the ids after that, as the runner numbers them; day 0 is the baseline (task 1).
_HISTORY_TASKS_SQL = """
INSERT INTO tasks (id, parent_id, kind, target, actor, trigger, status, created_at, updated_at, started_at,
                   finished_at, progress_done, progress_total, added, updated, removed)
SELECT k * $stride + 1 + j, CASE WHEN j > 0 THEN k * $stride + 1 END,
       CASE WHEN j = 0 THEN 'Check for updates' WHEN j = 1 THEN 'Partner list' ELSE 'Partner' END,
       CASE WHEN j = 0 THEN 'All partners' WHEN j = 1 THEN 'Acme' ELSE 'Agency ' || (j - 2) END,
       'system', 'Workspace policy', 'Completed', $last - to_days(($days - 1 - k)::INTEGER),
       $last - to_days(($days - 1 - k)::INTEGER) + INTERVAL 3 MINUTE,
       $last - to_days(($days - 1 - k)::INTEGER), $last - to_days(($days - 1 - k)::INTEGER) + INTERVAL 3 MINUTE,
       CASE WHEN j = 0 THEN $partners + 1 ELSE 1 END, CASE WHEN j = 0 THEN $partners + 1 ELSE 1 END,
       0, 0, 0
FROM range($days) d(k), range($stride) t(j)"""

# Days 1 … days-2 (the baseline and the latest sync are `synthetic_store`'s): `churn` of each partner's
# members change a day, 40% role, 20% status, 20% removed, 20% added (a removed member re-added).
_HISTORY_CHANGES_SQL = """
INSERT INTO member_changes (task_id, partner_bc_id, member_key, change, old_value, new_value, changed_at)
WITH numbered AS (
    SELECT partner_bc_id, member_key, user_role,
           row_number() OVER (PARTITION BY partner_bc_id ORDER BY member_key) - 1 AS i
    FROM members),
picks AS (
    SELECT ($pbase + p)::VARCHAR AS partner_bc_id, k, j, hash(p * 1000003 + k * 7919 + j) % $m AS i
    FROM range($partners) a(p), range(1, $days - 1) d(k), range($per_day) c(j))
SELECT x.k * $stride + 1, x.partner_bc_id, n.member_key,
       CASE x.j % 5 WHEN 0 THEN 'role_changed' WHEN 1 THEN 'role_changed' WHEN 2 THEN 'status_changed'
                    WHEN 3 THEN 'removed' ELSE 'added' END,
       CASE x.j % 5 WHEN 0 THEN 'STANDARD' WHEN 1 THEN 'ADMIN' WHEN 2 THEN 'BOUND' WHEN 3 THEN n.user_role END,
       CASE x.j % 5 WHEN 0 THEN 'ADMIN' WHEN 1 THEN 'STANDARD' WHEN 2 THEN 'UNBOUND' WHEN 4 THEN n.user_role END,
       $last - to_days(($days - 1 - x.k)::INTEGER)
FROM picks x JOIN numbered n ON n.partner_bc_id = x.partner_bc_id AND n.i = x.i
ORDER BY x.k, x.partner_bc_id"""

_HISTORY_SYNCS_SQL = """
INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
SELECT k * $stride + 1, bc_id, $last - to_days(($days - 1 - k)::INTEGER), false, $m, $per_day / 5,
       $per_day * 3 / 5, $per_day / 5
FROM partners, range(1, $days - 1) d(k)"""

# What people and the schedule did besides: a request a day, and some views, exports and settings changes.
_HISTORY_AUDIT_SQL = """
INSERT INTO audit_log ("at", actor, action, target, outcome, detail)
SELECT $last - to_days(($days - 1 - k)::INTEGER) + to_minutes(j::BIGINT),
       CASE WHEN j % 3 = 0 THEN 'system' ELSE 'analyst' || (j % 7) || '@acme.example' END,
       CASE j % 4 WHEN 0 THEN 'sync.request' WHEN 1 THEN 'members.export' WHEN 2 THEN 'vault.reveal'
                  ELSE 'settings.change' END,
       'Agency ' || (j % $partners), 'ok', 'task #' || (k * $stride + 1)
FROM range($days) d(k), range($audit_per_day) a(j)"""


def history_task(day: int, partners: int) -> int:
    """The task id of day `day`'s Check for updates in `year_store` (day 0: the baseline)."""
    return day * (partners + 2) + 1


def year_store(path: Path, partners: int, members_per_partner: int, *, days: int = 365, churn: float = 0.02) -> Store:
    """`synthetic_store` after `days` daily syncs of every partner: the tasks with their jobs, a `member_syncs` row
    per partner and day, `churn` of the members changed per day in `member_changes`, and an audit log."""
    store = synthetic_store(
        path, partners, members_per_partner, days=days - 1, latest_task=history_task(days - 1, partners)
    )
    values = {
        "partners": partners,
        "m": members_per_partner,
        "pbase": PARTNER_BASE,
        "days": days,
        "stride": partners + 2,
        "per_day": max(1, round(members_per_partner * churn)),
        "audit_per_day": 20 + partners // 5,
        "last": LAST_SYNC,
    }
    statements = (_HISTORY_TASKS_SQL, _HISTORY_CHANGES_SQL, _HISTORY_SYNCS_SQL, _HISTORY_AUDIT_SQL)
    for sql in statements:
        with store.write() as cur:
            cur.execute(sql, {k: v for k, v in values.items() if f"${k}" in sql})
    with store.write() as cur:  # the year's change counts (as the sync writes them) instead of the baseline's
        cur.execute("DELETE FROM member_change_counts")
        cur.execute(_COUNTS_SQL)
    with store.write() as cur:  # the next task the app queues numbers after the year's
        cur.execute("SELECT max(nextval('tasks_seq')) FROM range(?)", [days * values["stride"]])
    return store


_TASKS_SQL = """
INSERT INTO tasks (id, parent_id, kind, target, actor, trigger, status, created_at, updated_at, started_at,
                   finished_at, progress_done, progress_total, added, updated, removed, error, detail)
SELECT nextval('tasks_seq'), NULL, 'Check for updates', 'All partners',
       CASE WHEN i % 7 = 0 THEN 'admin@sandbox.example' ELSE 'Daily sync' END,
       CASE WHEN i % 7 = 0 THEN 'Manual' ELSE 'Workspace policy' END,
       CASE WHEN i % 53 = 0 THEN 'Not completed' WHEN i % 97 = 0 THEN 'Halted: safeguard' ELSE 'Completed' END,
       $start + i * INTERVAL 1 HOUR, $start + i * INTERVAL 1 HOUR + INTERVAL 90 SECOND,
       $start + i * INTERVAL 1 HOUR, $start + i * INTERVAL 1 HOUR + INTERVAL 90 SECOND, $jobs, $jobs,
       hash(i) % 40, hash(i + 1) % 60, hash(i + 2) % 20,
       CASE WHEN i % 53 = 0 THEN '1 of ' || $jobs || ' partners did not complete: timeout' END, NULL
FROM range($tasks) t(i) ORDER BY i"""

_JOBS_SQL = """
INSERT INTO tasks (id, parent_id, kind, target, actor, trigger, status, created_at, updated_at, started_at,
                   finished_at, progress_done, progress_total, added, updated, removed, error, detail)
SELECT nextval('tasks_seq'), t.id, CASE WHEN j = 0 THEN 'Partner list' ELSE 'Partner' END,
       CASE WHEN j = 0 THEN 'Your Business Center' ELSE 'Agency ' || j END, t.actor, t.trigger, 'Completed',
       t.created_at, t.updated_at, t.started_at, t.finished_at, 1, 1, 0, 0, 0, NULL, NULL
FROM tasks t, range($jobs) j(j) WHERE t.parent_id IS NULL AND t.id > $after ORDER BY t.id, j"""


def synthetic_tasks(store: Store, tasks: int, jobs_per_task: int = 2) -> None:
    """`tasks` ended Check for updates tasks (what the Automation page lists), an hour apart and newest
    last, each with `jobs_per_task` nested jobs (the partner list and partners); ids come from `tasks_seq`
    as the app's own do, so tasks the app starts afterwards follow them."""
    with store.write() as cur:
        row = cur.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()
        after = int(row[0]) if row else 0
        start = datetime(2025, 5, 1, tzinfo=UTC)
        cur.execute(_TASKS_SQL, {"start": start, "tasks": tasks, "jobs": jobs_per_task})
        cur.execute(_JOBS_SQL, {"jobs": jobs_per_task, "after": after})


# -- snapshots (what TikTok returns), for the upsert benchmark ------------------------------------


def plain_snapshot(bc_id: str, members: int) -> Snapshot:
    """`members` STANDARD, BOUND guest users `u0`, `u1`, ... with no reach: a snapshot one larger than the
    last adds one guest user (the alert benchmark and tests add thousands this way)."""
    return Snapshot(
        bc_id,
        {
            f"u{i}": {
                "user_id": f"u{i}",
                "user_name": f"Member {i}",
                "user_email": f"member{i}@agency.example",
                "user_role": "STANDARD",
                "finance_role": None,
                "relation_status": "BOUND",
            }
            for i in range(members)
        },
        [],
    )


def snapshot(partner_index: int, members: int, seed: int = 7) -> Snapshot:
    """One partner BC's members as `bc/member/get/` lists them, and their reach on two shared assets."""
    rng = random.Random(seed * 1_000_003 + partner_index)
    bc_id = str(PARTNER_BASE + partner_index)
    fetched: dict[str, dict[str, str | None]] = {}
    for i in range(members):
        item = _member_item(rng, partner_index, i)
        fetched[member_key(item) or ""] = _fields(item)
    roles = [
        {
            "member_key": key,
            "asset_id": str(ASSET_BASE + partner_index * 3 + k),
            "asset_type": "ADVERTISER",
            "asset_name": f"Acme Ads {k}",
            "asset_role": "ADMIN" if rng.random() < 0.2 else "OPERATOR",
        }
        for key, row in fetched.items()
        if row["relation_status"] == "BOUND" and rng.random() < 0.3
        for k in range(1 + (rng.random() < 0.5))
    ]
    return Snapshot(bc_id, fetched, roles)


def _member_item(rng: random.Random, partner_index: int, i: int) -> dict:
    status = rng.choices(("BOUND", "PENDING", "REJECTED", "UNBOUND"), (85, 7, 4, 4))[0]
    domain = rng.choices(("gmail.com", "outlook.com", f"agency{partner_index}.example"), (5, 2, 93))[0]
    item = {
        "user_email": f"user{i}@{domain}",
        "user_role": "ADMIN" if rng.random() < 0.1 else "STANDARD",
        "relation_status": status,
        "ext_user_role": {"finance_role": rng.choices(("MANAGER", "ANALYST", None), (3, 5, 92))[0]},
    }
    if status != "PENDING":
        item.update(user_id=str(USER_BASE + partner_index * 10_000 + i), user_name=f"Member {i} Ünïcode")
    return item


def _fields(item: dict) -> dict[str, str | None]:
    return {
        "user_id": item.get("user_id"),
        "user_name": item.get("user_name"),
        "user_email": item["user_email"],
        "user_role": item["user_role"],
        "finance_role": item["ext_user_role"]["finance_role"],
        "relation_status": item["relation_status"],
    }


def changed(snap: Snapshot, share: float, seed: int = 11) -> Snapshot:
    """A copy with `share` of the members changed: 40% role, 20% status, 20% removed, 20% new members."""
    rng = random.Random(seed)
    fetched = {key: dict(row) for key, row in snap.members.items()}
    keys = sorted(fetched)
    picked = rng.sample(keys, round(len(keys) * share))
    for n, key in enumerate(picked):
        kind = n % 5
        if kind in (0, 1):
            fetched[key]["user_role"] = "STANDARD" if fetched[key]["user_role"] == "ADMIN" else "ADMIN"
        elif kind == 2:
            fetched[key]["relation_status"] = "UNBOUND" if fetched[key]["relation_status"] != "UNBOUND" else "BOUND"
        elif kind == 3:
            del fetched[key]
        else:
            new_key = str(USER_BASE + 9_000_000_000 + rng.randrange(10**9))
            fetched[new_key] = {
                "user_id": new_key,
                "user_name": "New Member",
                "user_role": "STANDARD",
                "user_email": f"new{n}@{snap.partner_bc_id}.example",
                "finance_role": None,
                "relation_status": "BOUND",
            }
    roles = [r for r in snap.asset_roles if r["member_key"] in fetched]
    return Snapshot(snap.partner_bc_id, fetched, roles)
