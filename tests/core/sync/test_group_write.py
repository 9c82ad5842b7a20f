"""Partners written together (`member_write.apply_many`, used by the group commit `GroupWriter`) give exactly
what writing each partner in its own transaction gives; a partner halted by the safeguard, or whose write
fails, is left out without holding back the others."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import duckdb
import pytest

from core.store.database import Store
from core.sync import group_commit, member_diff, member_write
from core.sync.errors import SyncHalted
from core.sync.group_commit import GroupWriter
from core.sync.member_tables import Snapshot
from core.tasks.jobs import Counts
from tests.support.backends import Backend
from tests.support.member_rows import T0, mutate_members, random_member, random_snapshot

PARTNERS = ("p1", "p2", "p3")


def _store(store: Store) -> Store:
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [[bc, f"Agency {bc}"] for bc in PARTNERS],
        )
    return store


def _columns(cur, table: str, last: tuple[str, ...] = ()) -> str:
    """The table's columns but PostgreSQL's `rowid` (DuckDB's is hidden from `*`), `last` at the end."""
    names = [
        row[0]
        for row in cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND column_name <> 'rowid' "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    return ", ".join([*(n for n in names if n not in last), *last])


def _state(store: Store) -> dict[str, list]:
    with store.read() as cur:
        members = _columns(cur, "members", ("first_seen", "last_seen", "removed_at"))
        assets = _columns(cur, "member_assets")
        return {
            "members": cur.execute(f"SELECT {members} FROM members ORDER BY partner_bc_id, member_key").fetchall(),
            "changes": cur.execute(
                "SELECT task_id, partner_bc_id, member_key, change, old_value, new_value "
                "FROM member_changes ORDER BY partner_bc_id, id"
            ).fetchall(),
            "assets": cur.execute(f"SELECT {assets} FROM member_assets ORDER BY 1, 2, 3, 4").fetchall(),
            "syncs": cur.execute(
                "SELECT task_id, partner_bc_id, baseline, members, added, changed, removed "
                "FROM member_syncs ORDER BY 1, 2"
            ).fetchall(),
            "latest": cur.execute(
                "SELECT partner_bc_id, task_id, baseline FROM member_sync_latest ORDER BY 1, 2, 3"
            ).fetchall(),
            "counts": cur.execute(
                "SELECT task_id, partner_bc_id, change, sum(members) FROM member_change_counts "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ).fetchall(),
        }


def _histories(seed: int, rounds: int) -> list[list[Snapshot]]:
    """`rounds` syncs of every partner, each partner with its own random history."""
    rng = random.Random(seed)
    state = {
        bc: (dict(random_member(i, rng, invitee=rng.random() < 0.3) for i in range(30)), {}, [30]) for bc in PARTNERS
    }
    syncs = []
    for round_no in range(rounds):
        if round_no:
            for members, gone, next_id in state.values():
                mutate_members(members, gone, rng, next_id)
        syncs.append([random_snapshot(members, rng, bc) for bc, (members, _, _) in state.items()])
    return syncs


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_apply_many_equals_one_transaction_per_partner(backend: Backend, seed: int) -> None:
    one_by_one, together = _store(backend.open("one")), _store(backend.open("many"))
    for task_id, snapshots in enumerate(_histories(seed, rounds=6), start=1):
        now = T0 + timedelta(days=task_id)
        expected = []
        for snap in snapshots:
            with one_by_one.write() as cur:
                expected.append(
                    member_write.apply(
                        cur, snap, partner_name=snap.partner_bc_id, task_id=task_id, now=now, threshold=100
                    )
                )
        with together.write() as cur:
            got = member_write.apply_many(
                cur, [(snap, snap.partner_bc_id) for snap in snapshots], task_id=task_id, now=now, threshold=100
            )
        assert got == expected
        assert _state(together) == _state(one_by_one)


def test_a_halted_partner_is_left_out_and_the_others_written(backend: Backend) -> None:
    store = _store(backend.open())
    first, second = _histories(7, rounds=2)
    with store.write() as cur:
        member_write.apply_many(cur, [(snap, snap.partner_bc_id) for snap in first], task_id=1, now=T0, threshold=100)
    p1 = second[0]
    emptied = Snapshot(p1.partner_bc_id, dict(list(p1.members.items())[:5]), [])  # removes most of p1
    before = _state(store)
    kept: list[str] = []
    with store.write() as cur:
        results = member_write.apply_many(
            cur,
            [(emptied, "Agency p1"), *((s, s.partner_bc_id) for s in second[1:])],
            task_id=2,
            now=T0 + timedelta(days=1),
            threshold=20,
            before_write=kept.extend,
        )
    assert isinstance(results[0], SyncHalted)
    assert "Agency p1" in str(results[0])
    assert all(isinstance(r, Counts) for r in results[1:])
    assert kept == ["p2", "p3"]
    after = _state(store)
    assert [r for r in after["members"] if r[0] == "p1"] == [r for r in before["members"] if r[0] == "p1"]
    assert [r for r in after["members"] if r[0] == "p2"] != [r for r in before["members"] if r[0] == "p2"]
    assert {r[1] for r in after["syncs"] if r[0] == 2} == {"p2", "p3"}


def _queued_writes(store: Store, snapshots: list[Snapshot], also_write: dict) -> dict[str, object]:
    """Each snapshot written from its own thread while the writer is busy, so that they queue up."""
    writer = GroupWriter.of(store)
    results: dict[str, object] = {}

    def write(snap: Snapshot) -> None:
        try:
            results[snap.partner_bc_id] = group_commit.write_snapshot(
                store, snap, snap.partner_bc_id, 1, also_write.get(snap.partner_bc_id)
            )
        except Exception as exc:
            results[snap.partner_bc_id] = exc

    threads = [threading.Thread(target=write, args=(snap,)) for snap in snapshots]
    with writer._leader:  # busy: every write queues
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(writer._queue) < len(snapshots) and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_queued_writes_are_committed_together(backend: Backend) -> None:
    store = _store(backend.open())
    seen: list[str] = []
    results = _queued_writes(
        store, _histories(3, rounds=1)[0], {bc: (lambda cur, bc=bc: seen.append(bc)) for bc in PARTNERS}
    )
    assert all(isinstance(results[bc], Counts) and results[bc].added == 30 for bc in PARTNERS)
    assert GroupWriter.of(store).batch_sizes == [3]
    assert sorted(seen) == list(PARTNERS)


def test_a_group_takes_queued_partners_up_to_its_member_budget(backend: Backend) -> None:
    store = _store(backend.open())
    GroupWriter.of(store).group_members = 65  # two partners of 30 members fit, a third does not
    results = _queued_writes(store, _histories(3, rounds=1)[0], {})
    assert all(isinstance(results[bc], Counts) and results[bc].added == 30 for bc in PARTNERS)
    assert GroupWriter.of(store).batch_sizes == [2, 1]
    with store.read() as cur:
        assert cur.execute("SELECT count(DISTINCT task_id), count(*) FROM member_syncs").fetchone() == (1, 3)
    store.close()


def test_a_partner_larger_than_the_budget_is_written_alone(backend: Backend) -> None:
    store = _store(backend.open())
    GroupWriter.of(store).group_members = 10
    results = _queued_writes(store, _histories(3, rounds=1)[0], {})
    assert all(isinstance(results[bc], Counts) for bc in PARTNERS)
    assert GroupWriter.of(store).batch_sizes == [1, 1, 1]
    store.close()


def test_a_failing_write_in_a_group_fails_only_its_partner(backend: Backend) -> None:
    store = _store(backend.open())

    def broken(cur: object) -> None:
        raise RuntimeError("disk on fire")

    results = _queued_writes(store, _histories(4, rounds=1)[0], {"p2": broken})
    assert isinstance(results["p2"], RuntimeError)
    assert isinstance(results["p1"], Counts)
    assert isinstance(results["p3"], Counts)
    assert GroupWriter.of(store).batch_sizes == [3, 1, 1, 1]
    with store.read() as cur:
        assert dict(cur.execute("SELECT partner_bc_id, count(*) FROM members GROUP BY 1").fetchall()) == {
            "p1": 30,
            "p3": 30,
        }


def test_every_group_is_written_on_the_writers_one_thread(backend: Backend) -> None:
    """Writes led by different threads run on one thread: the allocator keeps what each thread frees for it."""
    store = _store(backend.open())
    on: list[int] = []

    def note(cur: object) -> None:
        on.append(threading.get_ident())

    callers = []
    for snap in _histories(3, rounds=1)[0]:  # one after the other, each from a thread of its own
        thread = threading.Thread(
            target=lambda snap=snap: group_commit.write_snapshot(store, snap, snap.partner_bc_id, 1, note)
        )
        thread.start()
        callers.append(thread.ident)
        thread.join(timeout=30)
    assert len(on) == 3
    assert len(set(on)) == 1
    assert not set(on) & set(callers)
    store.close()


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4, 5], [0, 3, 1, 4, 2, 5], [5, 4, 3, 2, 1, 0]])
def test_rows_are_split_by_partner_whatever_their_order(order: list[int]) -> None:
    import pyarrow as pa

    rows = [("p1", "a"), ("p1", "b"), ("p2", "c"), ("p2", "d"), ("p3", "e"), ("p3", "f")]
    table = pa.table({"partner_bc_id": [rows[i][0] for i in order], "member_key": [rows[i][1] for i in order]})
    split = member_diff.by_partner(table, ["p1", "p2", "p3", "p4"])
    assert {bc: sorted(t.column("member_key").to_pylist()) for bc, t in split.items()} == {
        "p1": ["a", "b"],
        "p2": ["c", "d"],
        "p3": ["e", "f"],
        "p4": [],
    }


def test_diffs_reuse_the_same_threads(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    # a pool per diff started new threads for each group, and the allocator kept what each had freed
    store = _store(backend.open())
    threads: set[str] = set()
    fetched_table = member_diff.fetched_table

    def recorded(snapshot: Snapshot):
        threads.add(threading.current_thread().name)
        return fetched_table(snapshot)

    monkeypatch.setattr(member_diff, "fetched_table", recorded)
    GroupWriter.of(store).group_members = 10  # one group, so one diff, per partner
    for snapshots in _histories(5, rounds=2):
        _queued_writes(store, snapshots, {})
    assert len(GroupWriter.of(store).batch_sizes) == 2 * len(PARTNERS)
    assert len(threads) <= member_diff._PREPARE_THREADS
    store.close()


def test_each_group_write_gives_freed_memory_back(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(backend.open())
    released: list[str] = []
    monkeypatch.setattr(group_commit, "release_freed", lambda: released.append(threading.current_thread().name))
    GroupWriter.of(store).group_members = 10  # one group per partner
    _queued_writes(store, _histories(6, rounds=1)[0], {})
    assert len(released) == len(PARTNERS)
    assert all(name.startswith("pw-member-write") for name in released)
    store.close()


def test_a_group_failing_under_the_lowered_limit_is_written_under_the_stores(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(backend.open())
    lowered: list[int] = []
    real_lowered, real_transaction = store.memory_lowered, GroupWriter._transaction

    def memory_lowered(limit_mib: int):
        lowered.append(limit_mib)
        return real_lowered(limit_mib)

    def transaction(writer: GroupWriter, batch: list, memory_mib: int | None = None) -> None:
        if memory_mib is not None:  # the first attempt, under the lowered limit: its COMMIT out of memory
            with writer.store.memory_lowered(memory_mib):
                lowered.append(0)
                raise duckdb.TransactionException("Failed to commit: Out of Memory Error: could not allocate block")
        real_transaction(writer, batch)

    monkeypatch.setattr(store, "memory_lowered", memory_lowered)
    monkeypatch.setattr(GroupWriter, "_transaction", transaction)
    first, second = _histories(7, rounds=2)
    if store.dialect == "postgresql":  # the server's memory: nothing lowered, so no second attempt of a group
        _queued_writes(store, first, {})
        assert lowered == []
        assert GroupWriter.of(store).write_memory_mib is None
        store.close()
        return
    results = _queued_writes(store, first, {})
    assert lowered == [group_commit.WRITE_MEMORY_MIB, 0]
    assert all(isinstance(result, Counts) for result in results.values())
    assert GroupWriter.of(store).batch_sizes == [len(PARTNERS)]  # written together, not partner by partner
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM members").fetchone() == (sum(len(s.members) for s in first),)
    _queued_writes(store, second, {})
    assert lowered == [group_commit.WRITE_MEMORY_MIB, 0]  # the later groups under the store's limit
    store.close()
