"""access_review: issue 16's figures over the 1,000,000-member database (`datagen`, as members_query).

Headline: seconds to create a campaign over every current member (the snapshot's one INSERT ... SELECT;
target < 3 s). Also: a reviewer's page view over the snapshot (p95 of a browsing mix; target < 0.15 s), a bulk
decision over the partner admins (~100,000 rows; target < 2 s), the sign-off's report CSV for every snapshot
row (target < 3 s) and the PDF summary (target < 2 s). Each figure is scaled to the issue's size when the
database is smaller (quick/tiny runs) and carries its own `met`.

Cost curve: 100k, 1M and 5M members (the members_query databases), the cost being the measured seconds of
the campaign's creation, beside those of the report CSV and of the bulk decision over the partner admins.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import load_average, percentile
from benchmarks.curves import Curve
from benchmarks.members_query import DATABASE_SIZES, database_of
from core.members.filters import MemberFilter
from core.reviews import campaigns, decisions, report
from core.reviews.campaigns import Scope
from core.reviews.decisions import ReviewFilter
from core.security.roles import ADMIN, Actor
from core.store.database import Store

NAME = "access_review"
ADMIN_ACTOR = Actor("bench@partnerwatch.local", ADMIN)
TARGETS = {"create_s": 3.0, "page_view_p95_s": 0.15, "bulk_decision_s": 2.0, "report_csv_s": 3.0, "pdf_s": 2.0}
COSTS = ("measured.create_s", "measured.create_cpu_s", "measured.csv_s", "measured.bulk_s")
CURVE = Curve("members", **DATABASE_SIZES, costs=COSTS)
VIEWS = [
    (ReviewFilter(), 1),
    (ReviewFilter(), 200),
    (ReviewFilter(members=MemberFilter(roles=("ADMIN",))), 3),
    (ReviewFilter(members=MemberFilter(flags=("personal_email",), sort="member")), 2),
    (ReviewFilter(members=MemberFilter(search="member 12")), 1),
    (ReviewFilter(members=MemberFilter(sort="flags", descending=True)), 1),
    (ReviewFilter(decisions=("undecided",)), 5),
    (ReviewFilter(decisions=("keep",)), 1),
]


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _timed_cpu(fn):
    """Seconds, CPU seconds (the process's threads, DuckDB's included) and the result of `fn()`."""
    cpu0 = time.process_time()
    seconds, result = _timed(fn)
    return seconds, time.process_time() - cpu0, result


def run_at(members: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="pw-bench-review-") as tmp:
        path = Path(tmp) / "pw.duckdb"
        shutil.copyfile(database_of(members), path)
        store = Store(path)  # applies the reviews migration
        create_s, create_cpu_s, campaign = _timed_cpu(
            lambda: campaigns.create(store, ADMIN_ACTOR, name="bench", scope=Scope())
        )
        rows = campaign.members
        admins = ReviewFilter(members=MemberFilter(roles=("ADMIN",)))
        n = decisions.count_bulk(store, ADMIN_ACTOR, campaign.id, admins)
        bulk_s, _ = _timed(
            lambda: decisions.decide_bulk(store, ADMIN_ACTOR, campaign.id, admins, decisions.KEEP, expected=n)
        )
        views = []
        for _ in range(3):
            for rf, page in VIEWS:
                seconds, _ = _timed(lambda rf=rf, page=page: decisions.view(store, ADMIN_ACTOR, campaign.id, rf, page))
                views.append(seconds)
        csv_s, (digest, _) = _timed(lambda: report.csv_digest(store, campaign.id))
        closed = campaigns.close(store, ADMIN_ACTOR, campaign.id, accept_undecided=True)
        pdf_s, pdf = _timed(lambda: report.build_pdf(store, closed, digest, rows))
        store.close()
    scale = 1_000_000 / rows
    figures = {
        "create_s": create_s * scale,
        "page_view_p95_s": percentile(views, 95),
        "bulk_decision_s": bulk_s * 100_000 / max(n, 1),
        "report_csv_s": csv_s * scale,
        "pdf_s": pdf_s,
    }
    return {
        "value": round(figures["create_s"], 3),
        "unit": "s",
        "target": TARGETS["create_s"],
        "met": all(figures[k] < TARGETS[k] for k in TARGETS),
        "snapshot_rows": rows,
        "bulk_rows": n,
        **{k: round(v, 3) for k, v in figures.items()},
        **{f"{k}_target": t for k, t in TARGETS.items()},
        "page_view_p50_s": round(percentile(views, 50), 3),
        "measured": {
            "create_s": round(create_s, 3),
            "create_cpu_s": round(create_cpu_s, 3),
            "bulk_s": round(bulk_s, 3),
            "csv_s": round(csv_s, 3),
        },
        "pdf_bytes": len(pdf),
        "load_average": load_average(),
    }
