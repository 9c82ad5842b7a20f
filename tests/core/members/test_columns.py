"""The Members query's plan: a query computes the columns its caller lists, and the joins and CTEs come from
what those columns and the filter declare they need (the SQL is not read back)."""

from __future__ import annotations

import re

import pytest

from core.members import columns, flags
from core.members.filters import SORTS, MemberFilter
from core.members.source import MEMBERS, Source
from core.reviews import snapshot

SNAPSHOT = snapshot.source(1)
RELATIONS = {
    "partners": "JOIN parts p ON p.bc_id = m.partner_bc_id",
    "latest syncs": "LEFT JOIN member_sync_latest l",
    "domains": "params AS (SELECT ?::VARCHAR[] AS domains)",
}


def _relations(sql: str) -> set[str]:
    """Which relations the query adds to the rows."""
    return {name for name, text in RELATIONS.items() if text in sql}


def _flagged(sql: str) -> str:
    """The SELECT list of the `flagged` CTE."""
    return sql.split("flagged AS (\n    SELECT ", 1)[1].split("\n", 1)[0]


@pytest.mark.parametrize("src", [MEMBERS, SNAPSHOT], ids=["members", "snapshot"])
def test_every_sort_and_export_cell_reads_columns_of_the_table(src: Source):
    table = columns.table(src)
    assert set(SORTS.values()) <= table.keys()
    assert set(columns.reads_of(columns.EXPORT_COLUMNS.values())) <= table.keys()


def test_a_query_computes_only_the_columns_it_lists(store):
    sql, params = columns.query(store, None, ("member", "user_email"), "member")
    assert (
        _flagged(sql) == "m.rowid AS row_id, m.user_email AS user_email, coalesce(m.user_name, m.user_email) AS member"
    )
    assert _relations(sql) == set()
    assert params == []


def test_a_partner_column_joins_the_partners_without_their_syncs(store):
    sql, _ = columns.query(store, None, ("partner_lower",), "partner_lower")
    assert _relations(sql) == {"partners"}


@pytest.mark.parametrize("how", ["column", "filter"])
def test_the_new_member_flag_joins_the_latest_syncs(store, how):
    if how == "column":
        sql, _ = columns.query(store, None, (flags.column(flags.BY_KEY["new_member"]),), "1")
    else:
        sql, _ = columns.query(store, MemberFilter(include_removed=True, flags=("new_member",)), (), "1")
    assert _relations(sql) == {"partners", "latest syncs"}


@pytest.mark.parametrize("how", ["column", "filter"])
def test_the_personal_email_flag_binds_the_domains_first(store, how):
    f = MemberFilter(include_removed=True, flags=("personal_email",), partners=("p1",))
    if how == "column":
        sql, params = columns.query(store, f, (flags.column(flags.BY_KEY["personal_email"]),), "1", extra=[7])
    else:
        sql, params = columns.query(store, f, (), "1", extra=[7])
    assert _relations(sql) == {"domains"}
    assert params == [list(flags.DEFAULT_PERSONAL_DOMAINS), "p1", 7]  # one partner: bound as a value (an equality)


def test_the_flag_count_is_computed_from_the_row_count_and_the_other_flags(store):
    sql, _ = columns.query(store, None, ("flag_count",), "flag_count")
    others = {flags.column(f) for f in flags.FLAGS if f.key not in flags.ROW_FLAGS}
    assert set(re.findall(r" AS (\w+)", _flagged(sql))) == {"row_id", "row_flag_count", *others}
    assert "filtered AS (SELECT *, row_flag_count::INTEGER + " in sql
    assert _relations(sql) == {"partners", "latest syncs", "domains"}


def test_a_snapshot_reads_frozen_partner_names_and_flags_without_joins(store):
    reads = ("partner", "partner_lower", "flag_count", *columns.FLAG_COLUMNS)
    sql, params = columns.query(store, MemberFilter(flags=("new_member", "personal_email")), reads, "1", src=SNAPSHOT)
    assert "m.partner_name AS partner" in sql
    assert "'new_member' = ANY(m.flag_keys)" in sql
    assert _relations(sql) == set()
    assert params == [1]


def test_an_unknown_column_is_refused(store):
    with pytest.raises(ValueError, match="no column 'decision'"):
        columns.query(store, None, ("decision",), "decision")  # a snapshot's column, not the live table's
