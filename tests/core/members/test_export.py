"""CSV export: formula-injection corpus read back with csv.reader, quoting, streaming in bounded chunks,
audit rows, and the Download CSV route (single-use token, or the CLI's bearer token)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.members import columns, export
from core.members.filters import MemberFilter
from core.security import audit, safe_csv
from core.security.roles import GUEST, Actor, NotAllowed
from core.store.database import Store
from core.tasks import jobs
from tests.support.compare import exported_rows
from tests.support.onboarding import run_sync
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ANALYST_ACTOR
from ui import api

DANGEROUS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "\nx",
    "\0x",
    "\uff1d1+1",
    "\uff0b1",
    "\uff0d1",
    "\uff20x",
    '=HYPERLINK("http://evil.example","x")',
    "-2+3+cmd|' /C calc'!A0",
]
HARMLESS = ["plain", "", 'say "hi"', "line1\nline2", "a,b;c", "ünïcödé 名前", "x=1", "'quoted", " =1"]


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("value", DANGEROUS)
def test_dangerous_cells_get_a_leading_quote(value):
    rows = _read(b"".join(safe_csv.csv_chunks(["h"], [[(value,)]])))
    assert rows == [["h"], ["'" + value]]


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_cells_are_kept_exactly(value):
    rows = _read(b"".join(safe_csv.csv_chunks(["h"], [[(value,)]])))
    assert rows == [["h"], [value]]


def test_every_field_is_quoted_with_crlf_rows():
    data = b"".join(safe_csv.csv_chunks(["Member", "=Header"], [[("a", None), ("b", 1)]]))
    assert data == b'"Member","\'=Header"\r\n"a",""\r\n"b","1"\r\n'


def test_injected_names_from_tiktok_are_neutralised_in_the_export(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    names = {
        "calc@agency.example": "=cmd|' /C calc'!A0",
        "wide@agency.example": "\uff20SUM(1)",
        "multi@agency.example": 'Line "one"\nline two',
    }
    for email, name in names.items():
        control(sandbox, "members/add", bc_id=bc_id, user_email=email, user_name=name)
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    rows = {r["Email"]: r for r in exported_rows(onboarded, MemberFilter(search="@agency.example"))}
    assert rows["calc@agency.example"]["Member"] == "'=cmd|' /C calc'!A0"
    assert rows["wide@agency.example"]["Member"] == "'\uff20SUM(1)"
    assert rows["multi@agency.example"]["Member"] == 'Line "one"\nline two'


def _synthetic_store(tmp_path, n: int) -> Store:
    store = Store(tmp_path / "big.duckdb")
    now = datetime.now(UTC)
    with store.write() as cur:
        cur.execute("INSERT INTO partners (bc_id, name, connection) VALUES ('p1', 'Big Agency', 'connected')")
        cur.execute(
            """INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, user_role,
                                    relation_status, first_seen, last_seen)
               SELECT 'p1', i::VARCHAR, i::VARCHAR, CASE WHEN i % 7 = 0 THEN '=evil' || i ELSE 'User ' || i END,
                      'user' || i || '@big.example', CASE WHEN i % 10 = 0 THEN 'ADMIN' ELSE 'STANDARD' END,
                      'BOUND', ?, ? FROM range(?) t(i)""",
            [now, now, n],
        )
    return store


def test_large_export_streams_in_bounded_chunks_and_is_audited(tmp_path):
    n = 100_000
    store = _synthetic_store(tmp_path, n)
    try:
        sizes, rows = [], 0
        stream = export.stream_members(store, MemberFilter(), actor=ANALYST_ACTOR, batch_rows=2_000)
        for chunk in stream:
            sizes.append(len(chunk))
            rows += chunk.count(b"\r\n")
        assert rows == n + 1
        assert len(sizes) > n // 2_000  # header + one chunk per batch: never the whole file at once
        assert max(sizes) < 1_000_000
        entry = audit.query(store, action="export.members").iloc[0]
        assert (entry["actor"], entry["outcome"]) == (ANALYST_ACTOR.email, "ok")
        assert entry["detail"].startswith(f"{n} rows via app")
    finally:
        store.close()


def test_stopped_download_is_audited_as_interrupted(tmp_path):
    store = _synthetic_store(tmp_path, 30_000)
    try:
        stream = export.stream_members(store, MemberFilter(), actor=ANALYST_ACTOR, batch_rows=1_000)
        next(stream), next(stream)
        stream.close()
        assert audit.query(store, action="export.members").iloc[0]["outcome"] == "interrupted"
        with pytest.raises(NotAllowed):
            export.stream_members(store, MemberFilter(), actor=Actor("guest@x.example", GUEST))
    finally:
        store.close()


def test_download_route_token_is_single_use_and_bearer_works_for_the_cli(onboarded):
    client = TestClient(Starlette(routes=api.ROUTES))
    f = MemberFilter(roles=("ADMIN",))
    token = export.mint_token(onboarded.store, ANALYST_ACTOR, f)

    first = client.get(export.download_url(token))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/csv")
    assert "attachment" in first.headers["content-disposition"]
    rows = _read(first.content)
    assert len(rows) > 1
    assert {r[5] for r in rows[1:]} == {"Admin"}
    assert client.get(export.download_url(token)).status_code == 403  # spent
    assert client.get(export.EXPORT_PATH).status_code == 401
    assert client.get(export.EXPORT_PATH, headers={"Authorization": "Bearer wrong"}).status_code == 401

    cli = client.get(
        export.EXPORT_PATH, params=f.to_query(), headers={"Authorization": f"Bearer {onboarded.settings.api_token}"}
    )
    assert cli.status_code == 200
    assert _read(cli.content) == rows
    actors = set(audit.query(onboarded.store, action="export.members")["actor"])
    assert actors == {ANALYST_ACTOR.email, "command line"}


def _corpus_store(tmp_path) -> Store:
    """Members whose every text column takes each dangerous and harmless value (and NULL where allowed)."""
    store = Store(tmp_path / "corpus.duckdb")
    values = [*DANGEROUS, *HARMLESS, "emoji 🙂", '"', '""', "=", "'=1", None]
    now = datetime.now(UTC)
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [(f"p{i}" if i % 3 else f"=p{i}", name) for i, name in enumerate(values[:6])],
        )
        cur.executemany(
            """INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, user_role, finance_role,
                                    relation_status, assets, first_seen, last_seen, removed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    f"p{i % 6}" if i % 6 % 3 else f"=p{i % 6}",
                    f"k{i}",
                    value,
                    value,
                    values[(i + 1) % len(values)],
                    ("ADMIN", "STANDARD", value)[i % 3],
                    ("MANAGER", None, value)[i % 3],
                    ("BOUND", "PENDING", value)[i % 3],
                    value,
                    now,
                    now,
                    now if i % 4 == 0 else None,
                )
                for i, value in enumerate(values * 3)
            ],
        )
    return store


@pytest.mark.parametrize(
    "f",
    [
        MemberFilter(include_removed=True),
        MemberFilter(),
        MemberFilter(include_removed=True, sort="member", descending=True),
        MemberFilter(include_removed=True, sort="email"),
        MemberFilter(include_removed=True, flags=("partner_admin",), sort="status"),
        MemberFilter(include_removed=True, sort="removed_at", descending=True),  # NULL sort keys, last
        MemberFilter(include_removed=True, sort="partner", descending=True),  # many rows per key
        MemberFilter(include_removed=True, sort="flags"),
    ],
)
def test_stream_is_byte_identical_to_the_python_writer(tmp_path, f):
    store = _corpus_store(tmp_path)
    try:
        with store.read() as cur:
            expected = b"".join(
                safe_csv.csv_chunks(columns.EXPORT_COLUMNS, [cur.execute(*columns.export_sql(store, f)).fetchall()])
            )
        assert expected.count(b"\r\n") > 10
        # in one sorted range, and in ranges of a few rows (cut between rows of one sort key too)
        for batch_rows, chunk_rows in ((7, export.CHUNK_ROWS), (10_000, export.CHUNK_ROWS), (7, 4), (10_000, 9)):
            streamed = b"".join(
                export.stream_members(store, f, actor=ANALYST_ACTOR, batch_rows=batch_rows, chunk_rows=chunk_rows)
            )
            assert streamed == expected
    finally:
        store.close()


def _partners_store(tmp_path) -> Store:
    """Members of partners whose names tie under lower(), are NULL, or are missing from `partners`."""
    store = Store(tmp_path / "partners.duckdb")
    names = ["Beta", "beta", None, "alpha", "BETA", None, "Zed", "alpha"]
    now = datetime.now(UTC)
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [(f"p{7 - i}", name) for i, name in enumerate(names)],
        )
        cur.execute(
            """INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, first_seen, last_seen)
               SELECT 'p' || (i % 9), (i * 7919 % 1000)::VARCHAR, i::VARCHAR, 'User ' || i,
                      'user' || i || '@x.example', ?, ? FROM range(600) t(i)""",  # p8 is no partner's
            [now, now],
        )
    return store


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("partners", [(), ("p1", "p2", "p5", "p6")])
@pytest.mark.parametrize("scoped", [export.SCOPED_PARTNERS, 2, 0])
def test_partner_order_in_ranges_is_byte_identical(tmp_path, monkeypatch, descending, partners, scoped):
    """The partner order's ranges (each scanning its own partners, sorted by their place) give the bytes of one
    query, whatever partner a cut falls in; a range of more partners than `SCOPED_PARTNERS` is selected by its
    sort keys (2: some ranges one way, some the other)."""
    monkeypatch.setattr(export, "SCOPED_PARTNERS", scoped)
    store = _partners_store(tmp_path)
    try:
        f = MemberFilter(sort="partner", descending=descending, partners=partners)
        whole = b"".join(export.stream_members(store, f, actor=ANALYST_ACTOR, chunk_rows=10**9))
        with store.read() as cur:
            expected = b"".join(
                safe_csv.csv_chunks(columns.EXPORT_COLUMNS, [cur.execute(*columns.export_sql(store, f)).fetchall()])
            )
        assert whole == expected
        assert whole.count(b"\r\n") > 200
        with store.read() as cur:
            scoped_ranges = ["_sort_place" in sql for sql, _ in export._ranges(store, cur, f, 50)]
        assert any(scoped_ranges) == (scoped > 0)
        assert all(scoped_ranges) or scoped < 8  # 8 partners
        for chunk_rows in (37, 150):
            assert b"".join(export.stream_members(store, f, actor=ANALYST_ACTOR, chunk_rows=chunk_rows)) == whole
    finally:
        store.close()


def test_a_large_export_is_sorted_in_ranges_of_about_chunk_rows(tmp_path):
    """Each range's query sorts only its own rows: none holds more than about `chunk_rows`."""
    store = _synthetic_store(tmp_path, 30_000)
    try:
        f = MemberFilter(sort="member", descending=True)
        with store.read() as cur:
            sizes = []
            for sql, params in export._ranges(store, cur, f, 5_000):
                sizes.append(cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])
            assert len(export.boundaries(store, cur, f, 100_000)) == 0  # fewer rows than a range: one query
        assert sum(sizes) == 30_000
        assert 4 <= len(sizes) <= 9
        assert max(sizes) < 10_000
        for chunk_rows in range(3_000, 6_000, 250):  # however the sample falls, no range of a few rows at the end
            with store.read() as cur:
                ranges = list(export._ranges(store, cur, f, chunk_rows))
                last = cur.execute(f"SELECT count(*) FROM ({ranges[-1][0]})", ranges[-1][1]).fetchone()[0]
            assert last > chunk_rows // 8, chunk_rows
        whole = b"".join(export.stream_members(store, f, actor=ANALYST_ACTOR, chunk_rows=10**9))
        assert b"".join(export.stream_members(store, f, actor=ANALYST_ACTOR, chunk_rows=5_000)) == whole
    finally:
        store.close()


def test_no_matching_rows_exports_the_header_only(tmp_path):
    store = _corpus_store(tmp_path)
    try:
        f = MemberFilter(search="no such member")
        assert b"".join(export.stream_members(store, f, actor=ANALYST_ACTOR)) == b"".join(
            safe_csv.csv_chunks(columns.EXPORT_COLUMNS, [])
        )
        assert audit.query(store, action="export.members").iloc[0]["detail"].startswith("0 rows via app")
    finally:
        store.close()


def test_export_yields_its_first_rows_before_fetching_the_rest(tmp_path, monkeypatch):
    store = _synthetic_store(tmp_path, 30_000)
    pulled: list[int] = []
    batches = export._Counter.batches

    def spied(self, reader):
        for batch in batches(self, reader):
            pulled.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(export._Counter, "batches", spied)
    try:
        stream = export.stream_members(store, MemberFilter(), actor=ANALYST_ACTOR, batch_rows=1_000)
        header, first = next(stream), next(stream)
        assert header.startswith(b'"')
        assert first.count(b"\r\n") == 1_000
        assert pulled == [1_000]  # one batch fetched from DuckDB, not the 30 the export holds
        rest = b"".join(stream)
        assert rest.count(b"\r\n") == 29_000
        assert len(pulled) == 30
    finally:
        store.close()


def test_the_exports_small_stream_buffer_is_its_own_connections(tmp_path):
    store = _corpus_store(tmp_path)
    try:
        with store.read() as cur:
            default = cur.execute("SELECT current_setting('streaming_buffer_size')").fetchone()[0]
        assert default != "1.0 MiB"
        stream = export.stream_members(store, MemberFilter(), actor=ANALYST_ACTOR)
        next(stream)  # the export's cursor is open, with its setting
        with store.read() as cur:
            assert cur.execute("SELECT current_setting('streaming_buffer_size')").fetchone()[0] == default
        assert b"".join(stream).count(b"\r\n") > 10
    finally:
        store.close()


def test_the_export_sorts_under_the_stores_whole_memory_limit_then_it_rests_again(tmp_path):
    # page views rest under a share of the limit (core/store/pool.py); an export's sorts need all of it
    store = Store(tmp_path / "pw.duckdb", memory_limit_mib=112)
    limit = "SELECT current_setting('memory_limit')"
    try:
        with store.read() as cur:
            assert cur.execute(limit).fetchone()[0] == "80.0 MiB"
        stream = export.stream_members(store, MemberFilter(), actor=ANALYST_ACTOR)
        next(stream)  # the export's read is open
        with store.read() as cur:
            assert cur.execute(limit).fetchone()[0] == "112.0 MiB"
        b"".join(stream)
        with store.read() as cur:
            assert cur.execute(limit).fetchone()[0] == "80.0 MiB"
    finally:
        store.close()
