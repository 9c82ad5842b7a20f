"""The Members query and the CSV export give the same answers on PostgreSQL as on the DuckDB file: the same
synthetic members (benchmarks/datagen.py) in both (copied with `migrate-store`), then every filter, sort,
search and page of the page-view mix, and the export's bytes, compared."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from benchmarks import datagen, members_query
from core.members import changes, export, paging
from core.members.filters import MemberFilter
from core.store import transfer
from core.store.database import Store
from tests.support.backends import PgCluster
from tests.support.services import ANALYST_ACTOR

PARTNERS, PER_PARTNER = 6, 60
FIRST = str(datagen.PARTNER_BASE)

# the benchmark's page-view mix (offsets as pages; past the end, the last page) and a few more
CASES = [
    *((f, offset // paging.PAGE_SIZE + 1) for f, offset in members_query.cases(FIRST)),
    (MemberFilter(sort="partner", descending=True), 2),
    (MemberFilter(search="user1"), 1),
    (MemberFilter(search="100%_"), 1),  # LIKE's own characters are searched for as they are
    (MemberFilter(), 3),
    # the counts by flag and the flag-count bound (migration 018), at pages past the first
    (MemberFilter(sort="flags", descending=True), 2),
    (MemberFilter(sort="flags", descending=True), 5),
    (MemberFilter(sort="flags"), 3),
    (MemberFilter(flags=("personal_email", "finance_manager"), sort="flags", descending=True), 1),
    (MemberFilter(flags=("invitation_pending",), roles=("STANDARD",)), 2),
    (MemberFilter(flags=("new_member", "asset_admin")), 1),
    (MemberFilter(statuses=("PENDING",), sort="member", descending=True), 1),
    (MemberFilter(statuses=("PENDING", "UNBOUND"), sort="member"), 1),
    # a search in partner order: partners matched by name counted, the others' members found by the search
    (MemberFilter(search="agentur", descending=True), 2),
    (MemberFilter(search="1"), 2),  # "Agency 1" by name, and members with a 1 in their name, e-mail or id
    (MemberFilter(search="a", include_removed=True), 4),
    (MemberFilter(search="agentur", flags=("personal_email",), roles=("STANDARD",)), 1),
    (MemberFilter(search="agentur", flags=("new_member",)), 1),
    # the last_seen order from the (last seen, partner) groups (migration 018)
    (MemberFilter(sort="last_seen", descending=True), 3),
    (MemberFilter(sort="last_seen", include_removed=True), 6),
    (MemberFilter(sort="last_seen", partners=(FIRST,), descending=True), 2),
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, pg_cluster: PgCluster) -> Iterator[tuple[Store, Store]]:
    path = tmp_path_factory.mktemp("parity") / "pw.duckdb"
    datagen.synthetic_store(path, PARTNERS, PER_PARTNER).close()
    url = pg_cluster.fresh_database(None)
    transfer.copy_store(path, url)
    duck, pg = Store(path), Store(url)
    yield duck, pg
    duck.close()
    pg.close()
    pg_cluster.drop(url)


def _shown(view: paging.MemberView) -> tuple[int, int, int, list[dict]]:
    rows = view.rows.drop(columns=[c for c in ("row_id",) if c in view.rows.columns])
    records = [{k: (None if _missing(v) else v) for k, v in row.items()} for row in rows.to_dict("records")]
    return view.total, view.page, view.offset, records


def _missing(value: object) -> bool:
    return not isinstance(value, list | tuple) and bool(pd.isna(value))  # type: ignore[arg-type]


@pytest.mark.parametrize(("f", "page"), CASES, ids=[f"{f.to_json()} p{p}" for f, p in CASES])
def test_a_page_view_is_the_same_on_both_stores(stores: tuple[Store, Store], f: MemberFilter, page: int) -> None:
    duck, pg = stores
    expected = _shown(paging.view(duck, f, page))
    assert expected[0] > 0 or f.search  # only a search may find nothing here
    assert _shown(paging.view(pg, f, page)) == expected


def test_the_export_is_byte_for_byte_the_same(stores: tuple[Store, Store]) -> None:
    duck, pg = stores
    f = MemberFilter(sort="email")
    got = [b"".join(export.stream_members(s, f, actor=ANALYST_ACTOR, batch_rows=100)) for s in (duck, pg)]
    assert got[0].count(b"\r\n") == paging.count(duck, f) + 1
    assert got[1] == got[0]


def test_the_search_on_postgresql_can_use_the_trigram_index(stores: tuple[Store, Store]) -> None:
    _, pg = stores
    with pg.read() as cur:  # rolled back at its end: the sort indexes (migrations 017 and 018) come back
        cur.execute("SET LOCAL enable_seqscan = off")
        # on a few hundred rows, a whole scan of a sort index on the same column costs less than the trigram one
        cur.execute(
            "DROP INDEX members_by_member, members_by_member_desc,"
            " members_by_status_member, members_by_status_member_desc"
        )
        plan = "\n".join(
            row[0]
            for row in cur.execute(
                "EXPLAIN SELECT 1 FROM members m WHERE m.member_lower LIKE ?", ["%user1%"]
            ).fetchall()
        )
    assert "members_member_lower_trgm" in plan


def test_the_data_version_reads_the_same_tables_on_both_and_changes_with_a_rename(stores):
    for store in stores:
        before = changes.data_version(store)
        assert before == changes.data_version(store)  # a read changes nothing
        with store.write() as cur:
            cur.execute("UPDATE partners SET name = name || ' (renamed)' WHERE bc_id = ?", [FIRST])
        try:
            assert changes.data_version(store) != before
        finally:
            with store.write() as cur:
                cur.execute("UPDATE partners SET name = replace(name, ' (renamed)', '') WHERE bc_id = ?", [FIRST])
    duck, pg = (changes.data_version(store) for store in stores)
    assert duck[:2] == pg[:2]  # the same syncs copied to both
