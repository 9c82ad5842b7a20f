"""memory_bounds: resident memory that does not grow with the data (issue 17, deliverable 3).

Each measurement runs in a fresh child process and reports its RSS growth: the peak resident set
(`VmHWM`, reset through `/proc/self/clear_refs` just before the work, and a 10 ms sampling thread as a
fallback) minus the resident set at that moment, with wall and CPU seconds. Target: growth < 150 MiB.

1. Export: every member (removed included) through `export.stream_members` to /dev/null, at 1M and 5M
   rows (quick: 100k), and DuckDB's own `COPY (the same query) TO file` in the same store (same memory
   limit), whose time is the reference (target ≤ 1.0×; where `COPY` cannot run under the store's limit, its CSV
   writer asking for 64 MiB blocks, the `COPY` at DuckDB's default limit is). Both again at 256 MiB (the store's
   limit before) and at DuckDB's default memory limit (80% of RAM, the store before that).
2. Sync: 1M members (250 partners × 4,000) through the sync's write path (`group_commit.write_snapshot`),
   `PARTNER_CONCURRENCY` partners at a time as Check for updates runs them: each partner's snapshot built (the
   fetch) on the event loop, then written from a worker thread (`asyncio.to_thread`); the first sync into an
   empty store, then a sync with 5% changed.
3. The Members page: the app's store opened on the 1M-member database, the columns warmed as the app does at
   start, and the page run in AppTest (first run and a rerun with another sort). Its growth is counted from
   before the store opens (`rss_growth_mib`), and from the store open (`rss_growth_from_store_open_mib`: the
   baseline of the export and the sync, whose stores are open before their work); the same steps over a
   150-member database (`small_database`) give the part that is the process's code and runtime, not the data.

Cost curve: 100k, 1M and 5M members (the members_query databases, 4,000 per partner) exported and shown on
the Members page, and a sync of a fifth of them (20k, 200k and 1M members, 4,000 per partner: the issue's 1M at
the 5M point), the cost being the export's RSS growth under the store's limit, beside the first and the changed
sync's, the page's, and the export's at DuckDB's default limit (the store before: what grows with the rows when
nothing bounds it). Memory bounded by design is an exponent near 0. The other comparisons (the export at
256 MiB, the sync and the page at DuckDB's default limit) run up to `COMPARED_UP_TO` members: at 5M they
would double the run and compare nothing the 1M point does not.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb

from benchmarks import datagen
from benchmarks.common import load_average, peak_rss_mib, rss_mib
from benchmarks.curves import Curve
from benchmarks.members_query import DATABASE_SIZES, shape, synthetic_database
from core.store.database import MEMORY_LIMIT_MIB
from tools import zygote

NAME = "memory_bounds"
TARGET_MIB = 150
TARGET_COPY_RATIO = 1.0
CURVE = Curve(
    "members (rows)",
    **DATABASE_SIZES,
    costs=(
        "export_rss_growth_mib",
        "first_sync_rss_growth_mib",
        "changed_sync_rss_growth_mib",
        "page_rss_growth_mib",
        "export_default_limit_rss_growth_mib",
    ),
    unit="MiB",
    headline=2,
)
COMPARED_UP_TO = 1_000_000  # the comparisons (other memory limits) up to this many members
SYNC_SHARE = 5  # a sync of a fifth of the members (1M at 5M)
SMALL_PAGE = (3, 50)  # the page's process over 150 members: its growth that is not the data's
CHANGE_SHARE = 0.05
DUCKDB_DEFAULT = "duckdb_default"  # the memory limit DuckDB picks itself (80% of RAM): the store before
PREVIOUS_MIB = 256  # the export also at the store's limit before this one
_SMALL = "small_database"
_COMPARISONS = ("default_limit", f"limit_{PREVIOUS_MIB}_mib", _SMALL)  # not the store's own limit at full size
_REFERENCE = "duckdb_copy"  # DuckDB's own COPY, what the export is timed against: not the product's memory


class _Meter:
    """Wall and CPU seconds and RSS growth (peak minus the resident set at the start) of a block."""

    def __init__(self) -> None:
        self.seconds = self.cpu = self.growth_mib = self.base_mib = 0.0


@contextmanager
def _metered() -> Iterator[_Meter]:
    meter = _Meter()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    base = meter.base_mib = rss_mib()
    sampled = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            sampled[0] = max(sampled[0], rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        yield meter
    finally:
        meter.seconds, meter.cpu = time.perf_counter() - t0, time.process_time() - cpu0
        done.set()
        sampler.join()
        peak = max(sampled[0], rss_mib(), peak_rss_mib() if reset else 0.0)
        meter.growth_mib = peak - base


def _memory_mib(limit: int | str) -> int:
    """The store's memory limit in MiB; DUCKDB_DEFAULT is DuckDB's own default, 80% of RAM."""
    if limit == DUCKDB_DEFAULT:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8 / 2**20)
    return int(limit)


def _figures(meter: _Meter, **more: object) -> dict[str, object]:
    return {
        "s": round(meter.seconds, 3),
        "cpu_s": round(meter.cpu, 3),
        "rss_growth_mib": round(meter.growth_mib, 1),
        **more,
    }


# -- the children (each in a fresh process) ------------------------------------------------------------


def _export_child(path: str, limit: int | str) -> dict[str, object]:
    from benchmarks.csv_export import ACTOR
    from core.members import export
    from core.members.filters import MemberFilter
    from core.store.database import Store, StoreError

    store = Store(path, memory_limit_mib=_memory_mib(limit))
    lines = 0
    try:
        with _metered() as meter, open(os.devnull, "wb") as sink:
            for chunk in export.stream_members(store, MemberFilter(include_removed=True), actor=ACTOR):
                sink.write(chunk)
                lines += chunk.count(b"\r\n")
    except (duckdb.Error, StoreError, OSError) as exc:  # pyarrow re-raises DuckDB's out-of-memory error as OSError
        return {"failed": _failure(exc)}
    finally:
        store.close()
    return _figures(meter, rows=lines - 1)


def _failure(exc: BaseException) -> str:
    """What failed, DuckDB's own words where the store wrapped them (its OutOfMemory names only the limit)."""
    return str(exc.__cause__ or exc).splitlines()[0]


def _copy_child(path: str, limit: int | str) -> dict[str, object]:
    from core.members import columns
    from core.members.filters import MemberFilter
    from core.store.database import Store, StoreError

    store = Store(path, memory_limit_mib=_memory_mib(limit))
    target = Path(path).with_suffix(".copy.csv")
    try:
        sql, params = columns.export_sql(store, MemberFilter(include_removed=True))
        # under the store's whole limit, as the export's sorts (`memory_raised`), not the resting one
        with _metered() as meter, store.memory_raised(), store.read() as cur:
            cur.execute(f"COPY ({sql}) TO '{target}' (HEADER, DELIMITER ',')", params)
    except (duckdb.Error, StoreError) as exc:  # the store raises DuckDB's out-of-memory error as its OutOfMemory
        return {"failed": _failure(exc)}
    finally:
        store.close()
        target.unlink(missing_ok=True)
    return _figures(meter)


def _sync_child(path: str, limit: int | str, partners: int, per_partner: int, task_id: int) -> dict[str, object]:
    from core.store.database import Store
    from core.sync import group_commit
    from core.sync.check_for_updates import PARTNER_CONCURRENCY

    store = Store(path, memory_limit_mib=_memory_mib(limit))
    if task_id == 1:
        with store.write() as cur:
            cur.execute(
                "INSERT INTO partners (bc_id, name, connection) "
                "SELECT ($base + p)::VARCHAR, 'Agency ' || p, 'connected' FROM range($n) t(p)",
                {"base": datagen.PARTNER_BASE, "n": partners},
            )

    async def one(p: int) -> int:
        snap = datagen.snapshot(p, per_partner)  # what the fetch holds, built on the event loop as fetch() builds it
        if task_id > 1:
            snap = datagen.changed(snap, CHANGE_SHARE, seed=p)
        # written from a worker thread as member_sync.sync_partner writes it
        counts = await asyncio.to_thread(group_commit.write_snapshot, store, snap, snap.partner_bc_id, task_id)
        return counts.added + counts.updated + counts.removed

    async def every_partner() -> int:
        gate = asyncio.Semaphore(PARTNER_CONCURRENCY)  # as check_for_updates._gather_limited

        async def limited(p: int) -> int:
            async with gate:
                return await one(p)

        return sum(await asyncio.gather(*(limited(p) for p in range(partners))))

    try:
        with _metered() as meter:
            changes = asyncio.run(every_partner())
        batches = group_commit.GroupWriter.of(store).batch_sizes
    finally:
        store.close()
    return _figures(meter, changes=changes, groups=len(batches), largest_group=max(batches))


def _page_child(tmp: str, limit: int | str) -> dict[str, object]:
    from streamlit.testing.v1 import AppTest

    from core import services as core_services
    from core.connect import workspace
    from core.members import paging
    from tests.support.services import make_services

    with _metered() as meter:  # from before the store opens: DuckDB's code and catalog load count here too
        svc = make_services(Path(tmp), PW_DUCKDB_MEMORY_MIB=str(_memory_mib(limit)))
        try:
            workspace.sandbox_users(svc.store)
            started = rss_mib()  # the app as started: store open (as the export's and sync's before their work)
            paging.warm(svc.store)  # as the app does at start (ui/routes.py)
            at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "ui" / "shell.py"), default_timeout=120)
            at.run()
            at.switch_page("../pages/members.py")
            at.run()
            if at.exception or not at.dataframe or len(at.dataframe[0].value) != paging.PAGE_SIZE:
                raise RuntimeError(f"the Members page did not show a full page: {at.exception}")
            at.selectbox(key="members_sort").set_value("member").run()
        finally:
            core_services.install(None)
            svc.close()
    return _figures(meter, rss_growth_from_store_open_mib=round(meter.growth_mib - (started - meter.base_mib), 1))


def _in_child(target: Callable[..., dict[str, object]], *args: object) -> dict[str, object]:
    with ProcessPoolExecutor(max_workers=1, mp_context=_context()) as pool:
        return pool.submit(target, *args).result()


_CHILD_IMPORTS = (  # what the children import before their meters start
    "benchmarks.csv_export",
    "core.members.export",
    "core.members.columns",
    "core.sync.group_commit",
    "core.sync.check_for_updates",
    "core.connect.workspace",
    "core.members.paging",
    "streamlit.testing.v1",
    "tests.support.services",
)


def _context() -> multiprocessing.context.BaseContext:
    """A spawned child per measurement. Under the test suite (PW_TEST_ZYGOTE=1, tools/zygote.py) a fork of a
    forkserver that has imported this module and `_CHILD_IMPORTS`, i.e. what a spawned child has imported when
    its meter starts, started with one thread (`zygote.ONE_THREAD`, which its children keep). The smoke test
    compares no figure; `make bench`'s come from spawned children only."""
    if os.environ.get(zygote.SWITCH) != "1":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *_CHILD_IMPORTS])
    before = dict(os.environ)
    os.environ.update(zygote.ONE_THREAD)
    try:
        if not multiprocessing.forkserver._forkserver._forkserver_pid:
            multiprocessing.forkserver.ensure_running()
            atexit.register(multiprocessing.forkserver._forkserver._stop)  # reaped, so its CPU time is counted
    finally:
        os.environ.clear()
        os.environ.update(before)
    return context


# -- the measurements ---------------------------------------------------------------------------------


def _export(tmp: Path, partners: int, per_partner: int, compared: bool = True) -> dict[str, dict[str, object]]:
    path = tmp / "export.duckdb"
    shutil.copyfile(synthetic_database(partners, per_partner), path)
    out: dict[str, dict[str, object]] = {}
    limits: tuple[tuple[int | str, str], ...] = ((MEMORY_LIMIT_MIB, "store_limit"),)
    if compared:
        limits += ((PREVIOUS_MIB, _COMPARISONS[1]),)
    for limit, label in (*limits, (DUCKDB_DEFAULT, _COMPARISONS[0])):
        stream = _in_child(_export_child, str(path), limit)
        copy = _in_child(_copy_child, str(path), limit)
        out[label] = {"export": stream, _REFERENCE: copy, "ratio_vs_duckdb_copy": _ratio(stream, copy)}
    path.unlink()
    store = out["store_limit"]
    if store["ratio_vs_duckdb_copy"] is None:  # COPY failed under the store's limit: DuckDB's own default's
        store["ratio_vs_duckdb_copy"] = _ratio(store["export"], out[_COMPARISONS[0]][_REFERENCE])  # type: ignore[arg-type]
        store["copy_reference"] = _COMPARISONS[0]
    return out


def _ratio(stream: dict[str, object], copy: dict[str, object]) -> float | None:
    """The export's wall seconds over `COPY`'s, or None where either failed."""
    if "s" not in stream or "s" not in copy:
        return None
    return round(float(stream["s"]) / float(copy["s"]), 2)  # type: ignore[arg-type]


def _sync(tmp: Path, partners: int, per_partner: int, limits: tuple[int | str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for limit in limits:
        path = tmp / f"sync-{limit}.duckdb"
        first = _in_child(_sync_child, str(path), limit, partners, per_partner, 1)
        second = _in_child(_sync_child, str(path), limit, partners, per_partner, 2)
        label = "default_limit" if limit == DUCKDB_DEFAULT else "store_limit"
        out[label] = {"first_sync": first, "changed_sync": second}
        path.unlink()
    return out


def _page(tmp: Path, partners: int, per_partner: int, limits: tuple[int | str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for limit in limits:
        shutil.copyfile(synthetic_database(partners, per_partner), tmp / "pw.duckdb")
        out["default_limit" if limit == DUCKDB_DEFAULT else "store_limit"] = _in_child(_page_child, str(tmp), limit)
        (tmp / "pw.duckdb").unlink()
    # The same steps over a database of a few members: what the page process grows by whatever the data
    shutil.copyfile(synthetic_database(*SMALL_PAGE), tmp / "pw.duckdb")
    out[_SMALL] = _in_child(_page_child, str(tmp), MEMORY_LIMIT_MIB)
    (tmp / "pw.duckdb").unlink()
    return out


def _under_store_limit(section: object) -> Iterator[dict[str, object]]:
    """Every measurement of the product made under the store's memory limit (not the DuckDB-default comparisons,
    nor the `COPY` reference: its memory, or its running out of it, is DuckDB's)."""
    if isinstance(section, dict):
        if "rss_growth_mib" in section or "failed" in section:
            yield section
        for key, inner in section.items():
            if key not in (*_COMPARISONS, _REFERENCE):
                yield from _under_store_limit(inner)


def run_at(members: int) -> dict[str, object]:
    partners, per_partner = shape(members)
    compared = members <= COMPARED_UP_TO
    limits: tuple[int | str, ...] = (MEMORY_LIMIT_MIB, DUCKDB_DEFAULT) if compared else (MEMORY_LIMIT_MIB,)
    sync_partners, sync_per_partner = shape(members // SYNC_SHARE)
    with tempfile.TemporaryDirectory(prefix="pw-bench-memory-") as tmp_dir:
        tmp = Path(tmp_dir)
        export = _export(tmp, partners, per_partner, compared)
        sync = _sync(tmp, sync_partners, sync_per_partner, limits)
        page = _page(tmp, partners, per_partner, limits)
    exports = {f"{partners * per_partner}_rows": export}
    measured = list(_under_store_limit({"exports": exports, "sync": sync, "page": page}))
    failed = [m["failed"] for m in measured if "failed" in m]
    worst = max(float(m["rss_growth_mib"]) for m in measured if "rss_growth_mib" in m)  # type: ignore[arg-type]
    ratio = export["store_limit"]["ratio_vs_duckdb_copy"]
    store_sync: dict[str, dict[str, object]] = sync["store_limit"]  # type: ignore[assignment]
    return {
        "value": round(worst, 1),
        "unit": "MiB",
        "target": TARGET_MIB,
        "met": worst < TARGET_MIB and not failed and isinstance(ratio, float) and ratio <= TARGET_COPY_RATIO,
        "members": partners * per_partner,
        "sync_members": sync_partners * sync_per_partner,
        "failed": failed,
        "memory_limit_mib": MEMORY_LIMIT_MIB,
        "copy_ratio_target": TARGET_COPY_RATIO,
        "copy_ratios": [ratio],
        # the curve's costs: RSS growth under the store's limit, and the export's at DuckDB's default limit
        "export_rss_growth_mib": _growth(export["store_limit"]["export"]),
        "first_sync_rss_growth_mib": _growth(store_sync["first_sync"]),
        "changed_sync_rss_growth_mib": _growth(store_sync["changed_sync"]),
        "page_rss_growth_mib": _growth(page["store_limit"]),
        "export_default_limit_rss_growth_mib": _growth(export[_COMPARISONS[0]]["export"]),
        "export": exports,
        "sync": sync,
        "members_page": page,
        # the page from the store open, the baseline of the export and the sync (see the module docstring)
        "members_page_from_store_open_mib": page["store_limit"].get("rss_growth_from_store_open_mib"),  # type: ignore[attr-defined]
        "load_average_1m": load_average(),
    }


def _growth(measured: object) -> float:
    """A measurement's RSS growth (0 where it failed: the curve then has no fit, and `failed` says why)."""
    return float(measured.get("rss_growth_mib", 0.0)) if isinstance(measured, dict) else 0.0
