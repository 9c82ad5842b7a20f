"""`migrate-store`: a DuckDB file copied into PostgreSQL on the real cluster: every table and row, bytes, lists and
timestamps intact, ids continuing from the file's sequences; a target holding data refused unless --replace; a
failure leaves the target untouched."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import cli
from core.config.settings import Settings
from core.store import transfer
from core.store.database import Store, StoreError
from core.sync import member_write
from tests.support.backends import PgCluster
from tests.support.member_rows import BC, T0, random_member, random_snapshot

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _filled_file(path: Path) -> Path:
    """A DuckDB file with members synced twice, a token (bytes), an alert rule (lists) and audit rows."""
    store = Store(path)
    rng = random.Random(5)
    members = dict(random_member(i, rng, invitee=i % 4 == 0) for i in range(60))
    with store.write() as cur:
        cur.execute("INSERT INTO partners (bc_id, name, connection) VALUES (?, 'Agency', 'connected')", [BC])
        cur.execute(
            "INSERT INTO tokens (purpose, bc_id, ciphertext, created_at) VALUES ('partner', ?, ?, ?)",
            [BC, b"\x00\x01secret\xff", AT],
        )
        cur.execute(
            "UPDATE alert_rules SET partner_bc_ids = ?, channel_ids = ? WHERE trigger = 'new_guest'", [[BC], [3, 4]]
        )
        for i in range(3):
            cur.execute('INSERT INTO audit_log ("at", actor, action) VALUES (?, ?, ?)', [AT, f"a{i}", "test"])
    for task_id in (1, 2):
        with store.write() as cur:
            snapshot = random_snapshot(members, rng)
            member_write.apply(
                cur, snapshot, partner_name="Agency", task_id=task_id, now=T0 + timedelta(days=task_id), threshold=100
            )
    store.close()
    return path


def _counts(store: Store, tables: list[str]) -> dict[str, int]:
    with store.read() as cur:
        return {t: int(cur.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}


def _members(store: Store) -> list[tuple]:
    with store.read() as cur:
        return cur.execute(
            "SELECT partner_bc_id, member_key, user_email, user_role, first_seen, last_seen, removed_at, assets, "
            "member_lower, row_flag_count FROM members ORDER BY member_key"
        ).fetchall()


def test_a_duckdb_file_is_copied_whole_into_postgresql(tmp_path: Path, pg_cluster: PgCluster) -> None:
    source = _filled_file(tmp_path / "pw.duckdb")
    target = pg_cluster.fresh_database(None)

    done = transfer.copy_store(source, target)

    duck, pg = Store(source), Store(target)
    try:
        assert _counts(pg, list(done.tables)) == _counts(duck, list(done.tables)) == done.tables
        assert done.tables["members"] == 60
        assert done.tables["audit_log"] == 3
        assert {"members", "member_assets", "member_changes", "tokens", "alert_rules", "tasks"} <= set(done.tables)
        assert _members(pg) == _members(duck)
        with pg.read() as cur:
            assert cur.execute("SELECT ciphertext, created_at FROM tokens").fetchone() == (b"\x00\x01secret\xff", AT)
            assert cur.execute(
                "SELECT partner_bc_ids, channel_ids FROM alert_rules WHERE trigger = 'new_guest'"
            ).fetchone() == ([BC], [3, 4])
        with pg.write() as cur:  # ids go on from the file's sequences
            assert cur.execute("INSERT INTO audit_log (actor) VALUES ('next') RETURNING id").fetchone() == (4,)
            cur.execute(
                "INSERT INTO members (partner_bc_id, member_key, first_seen, last_seen) VALUES ('x', 'y', ?, ?)",
                [AT, AT],
            )
    finally:
        duck.close()
        pg.close()


def test_a_target_with_data_is_refused_unless_replaced(tmp_path: Path, pg_cluster: PgCluster) -> None:
    source = _filled_file(tmp_path / "pw.duckdb")
    target = pg_cluster.fresh_database()
    store = Store(target)
    with store.write() as cur:
        cur.execute("INSERT INTO partners (bc_id, name) VALUES ('999', 'Already here')")
    store.close()

    with pytest.raises(StoreError, match="already holds data"):
        transfer.copy_store(source, target)
    store = Store(target)
    assert _counts(store, ["partners", "members"]) == {"partners": 1, "members": 0}
    store.close()

    done = transfer.copy_store(source, target, replace=True)
    store = Store(target)
    with store.read() as cur:
        assert cur.execute("SELECT bc_id FROM partners").fetchall() == [(BC,)]
    assert _counts(store, ["members"]) == {"members": done.tables["members"]}
    store.close()


def test_a_failing_copy_leaves_the_target_untouched(
    tmp_path: Path, pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _filled_file(tmp_path / "pw.duckdb")
    target = pg_cluster.fresh_database()
    copied = transfer._copy_table

    def copy_then_fail(reader, writer, table):  # type: ignore[no-untyped-def]
        rows = copied(reader, writer, table)
        if table == "members":
            raise StoreError("disk on fire")
        return rows

    monkeypatch.setattr(transfer, "_copy_table", copy_then_fail)
    with pytest.raises(StoreError, match="disk on fire"):
        transfer.copy_store(source, target)
    store = Store(target)
    assert _counts(store, ["audit_log", "member_assets", "members", "partners"]) == dict.fromkeys(
        ["audit_log", "member_assets", "members", "partners"], 0
    )
    store.close()


def test_the_cli_copies_and_says_so(tmp_path: Path, pg_cluster: PgCluster) -> None:
    source = _filled_file(tmp_path / "pw.duckdb")
    target = pg_cluster.fresh_database(None)
    settings = Settings.load(env={"PW_DATA_DIR": str(tmp_path), "PW_DB_PATH": str(source)}, root=tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["migrate-store", "--to", target, "-v"], settings=settings, out=out, err=err) == cli.OK, (
        err.getvalue()
    )
    assert "rows in" in out.getvalue()
    assert "PW_DATABASE_URL" in out.getvalue()
    again = io.StringIO()
    assert cli.main(["migrate-store", "--to", target], settings=settings, err=again) == cli.FAILED
    assert "already holds data" in again.getvalue()
    assert cli.main(["migrate-store", "--to", str(source)], settings=settings, err=io.StringIO()) == cli.USAGE
