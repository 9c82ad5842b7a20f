"""The Members query's stored search/sort text (migration 008) and its semantics: the derived columns equal
the expressions they replace (after a sync and after the migration's backfill), and pages, counts, sorts,
searches and deep pages equal a reference query written with the original expressions."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import datagen
from core.members import flags, page_ids, paging
from core.members.filters import MemberFilter
from core.members.source import MEMBERS
from core.store.database import MIGRATIONS_DIR, Store
from core.tasks import jobs
from tests.support.onboarding import run_sync
from tests.support.sandbox import control, monitored_partners

# each derived column and the expression over `members` it stands for
DERIVED = {
    "member_lower": "lower(coalesce(user_name, user_email))",
    "email_lower": "lower(user_email)",
    "email_domain": "split_part(lower(user_email), '@', 2)",
}
# (partner_bc_id, member_key, user_id, user_name, user_email)
TRICKY = [
    ("px", "k1", "u1", "ÄRGER Émile", "Mixed.Case@GMAIL.com"),
    ("px", "k2", None, None, "NoName@Outlook.COM"),
    ("px", "k3", "u3", None, None),
    ("px", "k4", "u4", "İstanbul ǅ", "no-at-sign"),
    ("px", "k5", "u5", "Zoë", "zoe@Agency.Example"),
    ("py", "k6", "u6", "ärger", "ARGER@gmail.com"),
]


def _disagreements(store: Store) -> int:
    checks = " OR ".join(f"{column} IS DISTINCT FROM {expr}" for column, expr in DERIVED.items())
    with store.read() as cur:
        return cur.execute(f"SELECT count(*) FILTER (WHERE {checks}) FROM members").fetchone()[0]


def test_the_sync_writes_the_derived_columns(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="Upper.Case@GMAIL.COM", user_name="ÉLODIE Ünïcode")
    control(sandbox, "members/add", bc_id=bc_id, user_email="Invitee@Agency.Example", relation_status="PENDING")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    with onboarded.store.read() as cur:
        stored = cur.execute(
            "SELECT member_lower, email_lower, email_domain FROM members "
            "WHERE email_lower IN ('upper.case@gmail.com', 'invitee@agency.example') "
            "ORDER BY email_lower"
        ).fetchall()
    assert stored == [
        ("invitee@agency.example", "invitee@agency.example", "agency.example"),
        ("élodie ünïcode", "upper.case@gmail.com", "gmail.com"),
    ]
    assert _disagreements(onboarded.store) == 0


def _insert_tricky(store: Store) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with store.write() as cur:
        cur.execute(
            "INSERT INTO partners (bc_id, name, connection) VALUES ('px', 'ZEBRA Agentur', 'connected'), "
            "('py', NULL, 'connected')"
        )
        cur.executemany(
            "INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, user_role, "
            "relation_status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, 'STANDARD', 'BOUND', ?, ?)",
            [[*row, now, now] for row in TRICKY],
        )


def test_the_row_flag_count_migration_uses_the_flags_sql():
    sql = flags.row_flag_count_sql("members")
    text = (MIGRATIONS_DIR / "postgresql" / "010_member_row_flags.sql").read_text()
    assert f"UPDATE members SET row_flag_count = {sql};" in text
    text = (MIGRATIONS_DIR / "010_member_row_flags.sql").read_text()  # shipped with TINYINT casts: the same sums
    assert f"UPDATE members SET row_flag_count = {sql.replace('::INTEGER', '::TINYINT')};" in text


def test_the_migration_backfills_the_derived_columns(tmp_path: Path):
    before = tmp_path / "migrations"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < "008":
            shutil.copy(path, before)
    Store(tmp_path / "pw.duckdb", migrations_dir=before).close()
    old = Store(tmp_path / "pw.duckdb", migrations_dir=before)
    _insert_tricky(old)
    old.close()
    store = Store(tmp_path / "pw.duckdb")  # applies 008
    try:
        assert store.schema_version() >= 8
        with store.read() as cur:
            assert cur.execute("SELECT count(*) FROM members WHERE email_lower IS NOT NULL").fetchone()[0] == 5
        assert _disagreements(store) == 0
    finally:
        store.close()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    """3,000 generated members (datagen, as the benchmark) plus the tricky rows, backfilled like datagen;
    one partner is removed."""
    store = datagen.synthetic_store(tmp_path_factory.mktemp("q") / "pw.duckdb", 30, 100)
    _insert_tricky(store)
    with store.write() as cur:
        cur.execute(datagen._backfill_sql("008_member_search_columns.sql"))
        cur.execute("UPDATE partners SET removed_at = now() WHERE bc_id = ?", [str(datagen.PARTNER_BASE + 7)])
    yield store
    store.close()


# the original expressions of the sorts and the search that now read stored or pre-computed columns
ORIGINAL_SORTS = {
    "member": "lower(coalesce(m.user_name, m.user_email))",
    "email": "lower(m.user_email)",
    "partner": "lower(p.name)",
    "assets": "m.asset_count",
}
ORIGINAL_SEARCH = (
    "(contains(lower(coalesce(m.user_name, '')), $t) OR contains(lower(coalesce(m.user_email, '')), $t)"
    " OR m.user_id = $raw OR contains(lower(p.name), $t))"
)
ORIGINAL_FLAGS = {
    "partner_admin": "m.user_role = 'ADMIN'",
    "finance_manager": "m.finance_role = 'MANAGER'",
    "personal_email": "list_contains($domains, split_part(lower(m.user_email), '@', 2))",
    "invitation_pending": "m.relation_status = 'PENDING'",
    "new_member": "m.removed_at IS NULL AND m.added_task_id = l.task_id AND NOT l.baseline",
    "asset_admin": "coalesce(m.asset_admin, false)",
}
ORIGINAL_SORTS["flags"] = " + ".join(f"coalesce(({c}), false)::INTEGER" for c in ORIGINAL_FLAGS.values())
LATEST = """LEFT JOIN (SELECT partner_bc_id, arg_max(task_id, synced_at) AS task_id,
                              arg_max(baseline, synced_at) AS baseline
                       FROM member_syncs GROUP BY partner_bc_id) l ON l.partner_bc_id = m.partner_bc_id"""


def _reference(store: Store, f: MemberFilter, limit: int, offset: int) -> tuple[int, list[str]]:
    where = ["true"] if f.include_removed else ["m.removed_at IS NULL", "p.removed_at IS NULL"]
    params: dict[str, object] = {"domains": list(flags.DEFAULT_PERSONAL_DOMAINS)}
    if f.search:
        where.append(ORIGINAL_SEARCH)
        params.update(t=f.search.strip().lower(), raw=f.search.strip())
    if f.flags:
        where.append("(" + " OR ".join(f"coalesce(({ORIGINAL_FLAGS[k]}), false)" for k in f.flags) + ")")
    if f.partners:
        where.append("list_contains($partners, m.partner_bc_id)")
        params["partners"] = list(f.partners)
    body = f"FROM members m JOIN partners p ON p.bc_id = m.partner_bc_id {LATEST} WHERE {' AND '.join(where)}"
    order = f"{ORIGINAL_SORTS[f.sort]} {'DESC' if f.descending else 'ASC'} NULLS LAST, m.partner_bc_id, m.member_key"
    count_sql = f"SELECT count(*) {body}"
    keys_sql = f"SELECT m.member_key {body} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    with store.read() as cur:
        total = cur.execute(count_sql, {k: v for k, v in params.items() if f"${k}" in count_sql}).fetchone()[0]
        keys = cur.execute(keys_sql, {k: v for k, v in params.items() if f"${k}" in keys_sql}).fetchall()
    return total, [k for (k,) in keys]


CASES = [
    (MemberFilter(sort=sort, descending=desc), offset)
    for sort in ORIGINAL_SORTS
    for desc in (False, True)
    for offset in (0, 40)
]
CASES += [
    (MemberFilter(sort="partner", descending=desc), offset)
    for desc in (False, True)
    for offset in (1, 99, 100, 999, 1000, 1234, 2899, 2950, 2990, 5000)
]
CASES += [
    (MemberFilter(search=term, sort="member"), 0)
    for term in ("ärger", "ÄRGER", "gmail.com", "u4", "zebra", "agentur", "noname@", "user12@", "émile")
]
CASES += [
    (MemberFilter(flags=("personal_email",), sort="email", descending=True), 0),
    (MemberFilter(flags=("new_member", "finance_manager"), sort="flags"), 0),
    (MemberFilter(flags=("invitation_pending", "asset_admin", "partner_admin"), sort="flags", descending=True), 20),
    (MemberFilter(sort="flags", descending=True), 0),
    (MemberFilter(partners=("px", str(datagen.PARTNER_BASE + 3)), sort="partner", descending=True), 50),
    (MemberFilter(include_removed=True), 1500),
    (MemberFilter(include_removed=True, sort="email"), 0),
    (MemberFilter(search="agentur", sort="partner"), 1000),
    (MemberFilter(search="user1", sort="partner", descending=True), 60),
    # a search whose query joins the partners (a flag or the flag count): the search selects members first
    (MemberFilter(search="user1", sort="flags"), 0),
    (MemberFilter(search="agentur", sort="flags", descending=True), 40),
    (MemberFilter(search="gmail", flags=("new_member", "personal_email"), sort="email"), 0),
]


@pytest.mark.parametrize(("f", "offset"), CASES, ids=[f"{f.to_json()}@{o}" for f, o in CASES])
def test_pages_and_counts_equal_the_original_expressions(synthetic, f, offset):
    total, keys = _reference(synthetic, f, 60, offset)
    assert paging.count(synthetic, f) == total
    assert list(paging.page(synthetic, f, limit=60, offset=offset)["member_key"]) == keys
    assert total > 0


@pytest.mark.parametrize(("f", "offset"), CASES, ids=[f"{f.to_json()}@{o}" for f, o in CASES])
def test_a_page_view_equals_the_original_expressions(synthetic, f, offset):
    total, _ = _reference(synthetic, f, 1, 0)
    number = min(offset // 60 + 1, -(-total // 60))  # a page past the end shows the last page
    _, keys = _reference(synthetic, f, 60, (number - 1) * 60)
    shown = paging.view(synthetic, f, offset // 60 + 1, page_size=60)
    assert (shown.total, shown.page, shown.pages, shown.offset) == (total, number, -(-total // 60), (number - 1) * 60)
    assert list(shown.rows["member_key"]) == keys
    pd.testing.assert_frame_equal(shown.rows, paging.page(synthetic, f, limit=60, offset=(number - 1) * 60))


@pytest.mark.parametrize(
    "f",
    [
        MemberFilter(),
        MemberFilter(sort="email"),
        MemberFilter(search="user1", sort="partner"),
        MemberFilter(search="agentur"),
    ],
    ids=lambda f: f.to_json(),
)
def test_a_page_past_the_end_is_the_last_page(synthetic, f):
    total, _ = _reference(synthetic, f, 1, 0)
    last = -(-total // 60)
    _, keys = _reference(synthetic, f, 60, (last - 1) * 60)
    shown = paging.view(synthetic, f, 10_000, page_size=60)
    assert (shown.page, shown.pages, list(shown.rows["member_key"])) == (last, last, keys)


@pytest.mark.parametrize(
    "f", [MemberFilter(search="no such member"), MemberFilter(partners=("nobody",))], ids=["search", "filter"]
)
def test_an_empty_view_is_page_one_of_one(synthetic, f):
    shown = paging.view(synthetic, f, 3)
    assert (shown.total, shown.page, shown.pages, shown.offset, len(shown.rows)) == (0, 1, 1, 0, 0)
    assert list(shown.rows.columns) == list(paging.page(synthetic, MemberFilter(), limit=1).columns)


@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize(("size", "number"), [(1, 1), (5, 1), (5, 4), (60, 2), (200, 3)])
def test_pages_by_flag_count_equal_the_reference_at_any_depth(synthetic, descending, size, number):
    """Sorting by flag count evaluates the other flags only for members whose row flag count lets them reach
    the page: every page size and depth must still equal the reference."""
    f = MemberFilter(sort="flags", descending=descending)
    total, keys = _reference(synthetic, f, size, (number - 1) * size)
    shown = paging.view(synthetic, f, number, page_size=size)
    assert (shown.total, list(shown.rows["member_key"])) == (total, keys)
    assert list(paging.page(synthetic, f, limit=size, offset=(number - 1) * size)["member_key"]) == keys


@pytest.mark.parametrize(
    ("f", "number", "from_first_partners"),
    [
        (MemberFilter(sort="flags"), 1, True),
        (MemberFilter(sort="flags"), 4, True),
        (MemberFilter(sort="flags", roles=("STANDARD",)), 2, True),
        # every member has a flag its row flag count leaves out: the first partners cannot tell the page
        (MemberFilter(sort="flags", flags=("personal_email",)), 1, False),
        (MemberFilter(sort="flags"), 30, False),  # the page is too deep for a few partners to hold
    ],
    ids=["page1", "page4", "standard", "personal", "deep"],
)
def test_the_fewest_flags_come_from_the_first_partners_only_when_they_are_the_page(
    synthetic, f, number, from_first_partners
):
    offset = (number - 1) * 60
    _, keys = _reference(synthetic, f, 60, offset)
    with synthetic.read() as cur:
        histogram = page_ids.sort_sizes(cur, synthetic, f)
        assert histogram is not None
        found = page_ids._fewest_flags_of_first_partners(cur, synthetic, f, histogram, (60, offset), MEMBERS)
    assert (found is not None) == from_first_partners
    assert list(paging.view(synthetic, f, number, page_size=60).rows["member_key"]) == keys
    assert list(paging.page(synthetic, f, limit=60, offset=offset)["member_key"]) == keys


def test_warming_reads_the_scanned_columns_and_only_logs_when_it_cannot(synthetic, tmp_path, caplog):
    caplog.set_level("INFO", logger="core.members.paging")
    paging.warm(synthetic)  # every column it names exists
    assert "Could not read" not in caplog.text
    closed = Store(tmp_path / "closed.duckdb")
    closed.close()
    paging.warm(closed)
    assert "Could not read the members columns" in caplog.text
