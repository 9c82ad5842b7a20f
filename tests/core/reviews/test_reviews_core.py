"""Access reviews in core: who may do what, the frozen snapshot, decisions (by row, in bulk, audited), sign-off,
the attestation report, and removal requests."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pytest

from benchmarks import datagen
from core.members import filters, paging
from core.members.filters import MemberFilter
from core.reviews import campaigns, decisions, remediation, report
from core.reviews.campaigns import Scope
from core.reviews.decisions import ReviewFilter
from core.reviews.errors import CampaignClosed, ReviewError
from core.security import audit
from core.security.roles import NotAllowed
from core.store.database import Store
from tests.support.backends import Backend
from tests.support.reviews import ADMIN_A, ANALYST_A, GUEST_A, OTHER_ANALYST

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic members of conftest's `store` (5 partners × 40), built once; each test gets a copy."""
    path = tmp_path_factory.mktemp("reviews") / "pw.duckdb"
    datagen.synthetic_store(path, 5, 40).close()
    return path


@pytest.fixture
def store(tmp_path: Path, backend: Backend, synthetic_file: Path) -> Iterator[Store]:
    """A copy of the synthetic members on each backend (moved into PostgreSQL with migrate-store, once per
    cluster, then cloned from that database: `Backend.copy_of`)."""
    if backend.name == "postgresql":
        target = backend.copy_of(synthetic_file)
    else:
        target = str(tmp_path / "pw.duckdb")
        shutil.copyfile(synthetic_file, target)
    opened = Store(target)
    yield opened
    opened.close()


def _create(store, scope=None, **kwargs):
    scope = scope or Scope()
    return campaigns.create(store, ADMIN_A, name="Q2 partner access", scope=scope, now=T0, **kwargs)


def _all_rows(store, campaign_id, actor=ANALYST_A, rf=None):
    rf = rf or ReviewFilter()
    shown = decisions.view(store, actor, campaign_id, rf, page_number=1)
    rows = [shown.rows]
    for number in range(2, shown.pages + 1):
        rows.append(decisions.view(store, actor, campaign_id, rf, page_number=number).rows)
    import pandas as pd

    return pd.concat(rows, ignore_index=True)


# -- roles ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [ANALYST_A, GUEST_A])
def test_only_admins_create_and_close(store, actor):
    with pytest.raises(NotAllowed):
        campaigns.create(store, actor, name="x", scope=Scope())
    campaign = _create(store)
    with pytest.raises(NotAllowed):
        campaigns.close(store, actor, campaign.id, accept_undecided=True)
    assert not campaigns.get(store, ADMIN_A, campaign.id).closed


def test_a_guest_sees_no_campaign(store):
    campaign = _create(store)
    for call in (
        lambda: campaigns.list_campaigns(store, GUEST_A),
        lambda: campaigns.get(store, GUEST_A, campaign.id),
        lambda: decisions.view(store, GUEST_A, campaign.id, ReviewFilter()),
        lambda: decisions.progress(store, GUEST_A, campaign.id),
        lambda: decisions.decide(store, GUEST_A, campaign.id, "p", "k", decisions.KEEP),
        lambda: remediation.requests(store, GUEST_A),
    ):
        with pytest.raises(NotAllowed):
            call()


# -- snapshot ------------------------------------------------------------------------------------------------


def test_the_snapshot_holds_exactly_the_current_members_in_scope(store):
    campaign = _create(store)
    current = paging.count(store, MemberFilter())
    assert campaign.members == current
    rows = _all_rows(store, campaign.id)
    assert len(rows) == current
    assert rows["removed_at"].isna().all()
    admins = _create(store, Scope(admins_only=True))
    assert admins.members == paging.count(store, MemberFilter(roles=("ADMIN",)))
    one = sorted(filters.partner_options(store))[1]
    chosen = _create(store, Scope(partners=(one,), flagged_only=True))
    from core.members import flags

    assert chosen.members == paging.count(store, MemberFilter(partners=(one,), flags=tuple(flags.BY_KEY)))
    assert set(_all_rows(store, chosen.id)["partner_bc_id"]) == {one}


def test_the_snapshot_does_not_move_when_members_change(store):
    campaign = _create(store)
    before = _all_rows(store, campaign.id)
    bc_id, key = before["partner_bc_id"][0], before["member_key"][0]
    with store.write() as cur:  # what later syncs do: re-role, remove, add, rename the partner
        cur.execute("UPDATE members SET user_role = 'ADMIN', user_name = 'Changed' WHERE member_key = ?", [key])
        cur.execute("UPDATE members SET removed_at = ? WHERE partner_bc_id = ?", [T0, before["partner_bc_id"][5]])
        cur.execute(
            """INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, user_role,
                                    relation_status, first_seen, last_seen, member_lower, email_lower)
               VALUES (?, 'late', 'late', 'Late Joiner', 'late@agency.example', 'STANDARD', 'BOUND', ?, ?,
                       'late joiner', 'late@agency.example')""",
            [bc_id, T0 + timedelta(days=1), T0 + timedelta(days=1)],
        )
        cur.execute("UPDATE partners SET name = 'Renamed' WHERE bc_id = ?", [bc_id])
    after = _all_rows(store, campaign.id)
    assert after.drop(columns=["flags"]).equals(before.drop(columns=["flags"]))
    assert after["flags"].tolist() == before["flags"].tolist()
    joined = campaigns.scope_filter(store, campaign.scope)
    from core.reviews import snapshot

    late = snapshot.joined_after(store, campaign.id, joined)
    assert late.total == 1
    assert late.rows["member"].tolist() == ["Late Joiner"]


def test_filters_sorts_and_search_work_over_the_snapshot(store):
    campaign = _create(store)
    for f in (
        MemberFilter(roles=("ADMIN",), sort="member"),
        MemberFilter(flags=("personal_email",), sort="flags", descending=True),
        MemberFilter(search="member 1", sort="email"),
        MemberFilter(statuses=("PENDING",)),
    ):
        rows = _all_rows(store, campaign.id, rf=ReviewFilter(members=f))
        live = paging.page(store, f, limit=1000)
        assert rows["member_key"].tolist() == live["member_key"].tolist(), f


# -- decisions -----------------------------------------------------------------------------------------------


def test_a_decision_can_change_until_close_and_each_change_is_logged(store):
    campaign = _create(store)
    row = _all_rows(store, campaign.id).iloc[0]
    decisions.decide(store, ANALYST_A, campaign.id, row.partner_bc_id, row.member_key, decisions.NEEDS_INFO, "who?")
    decisions.decide(store, ANALYST_A, campaign.id, row.partner_bc_id, row.member_key, decisions.REMOVE, "left")
    log = decisions.history(store, ADMIN_A, campaign.id)
    assert log[["before", "after", "comment", "actor"]].values.tolist() == [
        ["Needs info", "Remove", "left", ANALYST_A.email],
        ["Undecided", "Needs info", "who?", ANALYST_A.email],
    ]
    audited = audit.query(store, action="review.decide")
    assert len(audited) == 2
    assert (audited["actor"] == ANALYST_A.email).all()
    shown = _all_rows(store, campaign.id).iloc[0]
    assert (shown.decision, shown.comment, shown.decided_by) == ("remove", "left", ANALYST_A.email)


def test_bulk_decisions_touch_the_confirmed_filtered_rows_only(store):
    campaign = _create(store)
    rf = ReviewFilter(members=MemberFilter(roles=("ADMIN",)))
    n = decisions.count_bulk(store, ANALYST_A, campaign.id, rf)
    assert n == paging.count(store, MemberFilter(roles=("ADMIN",))) > 0
    with pytest.raises(ReviewError, match="not the"):
        decisions.decide_bulk(store, ANALYST_A, campaign.id, rf, decisions.KEEP, expected=n + 1)
    assert decisions.progress(store, ANALYST_A, campaign.id)["decided"].sum() == 0
    assert decisions.decide_bulk(store, ANALYST_A, campaign.id, rf, decisions.KEEP, "ok", expected=n) == n
    progress = decisions.progress(store, ANALYST_A, campaign.id)
    assert progress["keep"].sum() == n
    assert progress["decided"].sum() == n
    assert len(decisions.history(store, ADMIN_A, campaign.id, limit=10_000)) == n
    undecided = ReviewFilter(decisions=(decisions.UNDECIDED,))
    assert decisions.count_bulk(store, ANALYST_A, campaign.id, undecided) == campaign.members - n


def test_decisions_on_a_closed_campaign_are_refused_in_core(store):
    campaign = _create(store)
    row = _all_rows(store, campaign.id).iloc[0]
    campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True, now=T0 + timedelta(days=1))
    with pytest.raises(CampaignClosed):
        decisions.decide(store, ADMIN_A, campaign.id, row.partner_bc_id, row.member_key, decisions.KEEP)
    with pytest.raises(CampaignClosed):
        decisions.decide_bulk(store, ADMIN_A, campaign.id, ReviewFilter(), decisions.KEEP, expected=campaign.members)
    with pytest.raises(CampaignClosed):
        campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True)
    assert decisions.progress(store, ADMIN_A, campaign.id)["decided"].sum() == 0


def test_reviewers_decide_only_the_partners_assigned_to_them(store):
    partners = sorted(filters.partner_options(store))
    campaign = _create(store, reviewers={partners[0]: [OTHER_ANALYST.email]})
    rows = _all_rows(store, campaign.id)
    theirs = rows[rows["partner_bc_id"] == partners[0]].iloc[0]
    with pytest.raises(ReviewError, match="assigned to other reviewers"):
        decisions.decide(store, ANALYST_A, campaign.id, theirs.partner_bc_id, theirs.member_key, decisions.KEEP)
    decisions.decide(store, OTHER_ANALYST, campaign.id, theirs.partner_bc_id, theirs.member_key, decisions.KEEP)
    everyone = ReviewFilter()
    in_theirs = int((rows["partner_bc_id"] == partners[0]).sum())
    assert decisions.count_bulk(store, ANALYST_A, campaign.id, everyone) == len(rows) - in_theirs
    assert decisions.count_bulk(store, ADMIN_A, campaign.id, everyone) == len(rows)
    mine = ReviewFilter(mine_only=True)
    assert decisions.view(store, OTHER_ANALYST, campaign.id, mine).total == in_theirs
    progress = decisions.progress(store, OTHER_ANALYST, campaign.id)
    assert progress["partner_bc_id"][0] == partners[0]
    assert progress["assigned_to_you"][0]


# -- sign-off and report -------------------------------------------------------------------------------------


def test_sign_off_needs_every_decision_or_the_undecided_listed(store):
    campaign = _create(store)
    with pytest.raises(ReviewError, match="have no decision yet"):
        campaigns.close(store, ADMIN_A, campaign.id)
    closed = campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True, now=T0 + timedelta(days=2))
    assert closed.closed
    assert closed.undecided == campaign.members
    assert closed.closed_by == ADMIN_A.email
    text = _pdf_text(report.stored_pdf(store, ADMIN_A, campaign.id))
    assert "Undecided at sign-off" in text
    assert f"and {campaign.members - 100} more" in text


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_report_lists_every_decision_and_matches_its_sha256(store, tmp_path):
    campaign = _create(store)
    rows = _all_rows(store, campaign.id)
    first, second = rows.iloc[0], rows.iloc[1]
    decisions.decide(store, ANALYST_A, campaign.id, first.partner_bc_id, first.member_key, decisions.REMOVE, "=1+1")
    rest = ReviewFilter(decisions=(decisions.UNDECIDED,))
    n = decisions.count_bulk(store, ANALYST_A, campaign.id, rest)
    decisions.decide_bulk(store, ANALYST_A, campaign.id, rest, decisions.KEEP, expected=n)
    decisions.decide(store, ADMIN_A, campaign.id, second.partner_bc_id, second.member_key, decisions.NEEDS_INFO)
    closed = campaigns.close(store, ADMIN_A, campaign.id, now=T0 + timedelta(days=3))
    data = report.csv_bytes(store, ADMIN_A, campaign.id)
    assert hashlib.sha256(data).hexdigest() == closed.csv_sha256
    assert report.csv_bytes(store, ANALYST_A, campaign.id) == data  # a re-download: the same bytes
    table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert table[0] == list(report.COLUMNS)
    assert len(table) - 1 == closed.csv_rows == campaign.members
    by_key = {(r[4], r[2] or r[1]): r for r in table[1:]}
    decided = by_key[(first.partner_bc_id, first.member_key)]
    assert decided[9:11] == ["Remove", ANALYST_A.email]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", decided[11])
    assert decided[12] == "'=1+1"  # the formula-safe writer defused the comment
    assert by_key[(second.partner_bc_id, second.member_key)][9:11] == ["Needs info", ADMIN_A.email]
    assert sum(r[9] == "Keep" for r in table[1:]) == n - 1
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in table for cell in r)

    pdf = report.stored_pdf(store, ADMIN_A, campaign.id)
    assert report.build_pdf(store, closed, closed.csv_sha256, closed.csv_rows) == pdf  # rebuilt: same bytes
    text = _pdf_text(pdf)
    for expected in (closed.csv_sha256, "Q2 partner access", "all onboarded partners", ADMIN_A.email, "All partners"):
        assert expected in text
    csv_path, pdf_path = report.write_files(store, ADMIN_A, campaign.id, tmp_path)
    assert csv_path.read_bytes() == data
    assert pdf_path.read_bytes() == pdf


def test_the_report_is_the_same_bytes_however_its_rows_are_sorted_in_ranges(store, monkeypatch):
    campaign = _create(store)
    row = _all_rows(store, campaign.id).iloc[3]
    decisions.decide(store, ANALYST_A, campaign.id, row.partner_bc_id, row.member_key, decisions.REMOVE, "a\r\nb")
    with store.write() as cur:  # a partner frozen without a name sorts last, ranges cut inside it too
        cur.execute("UPDATE review_items SET partner_name = NULL WHERE partner_bc_id = ?", [row.partner_bc_id])
    whole = report.csv_digest(store, campaign.id)
    assert whole[1] == campaign.members
    for chunk_rows in (7, 37, 150):  # 200 rows: many ranges, a few, one
        monkeypatch.setattr(report, "CHUNK_ROWS", chunk_rows)
        assert report.csv_digest(store, campaign.id) == whole


def test_a_large_report_streams_within_the_stores_memory_limit(tmp_path, monkeypatch):
    """50,000 rows under a 32 MiB DuckDB: one sort of every line runs out of memory (as a million rows did under
    the default 112 MiB), ranges of 5,000 rows do not, and give the bytes of the one sort."""
    path = tmp_path / "pw.duckdb"
    datagen.synthetic_store(path, 10, 5_000).close()
    roomy = Store(path)
    try:
        campaign = campaigns.create(roomy, ADMIN_A, name="large", scope=Scope())
        whole = report.csv_digest(roomy, campaign.id)
    finally:
        roomy.close()
    tight = Store(path, memory_limit_mib=32)
    try:
        monkeypatch.setattr(report, "CHUNK_ROWS", 5_000, raising=False)
        assert report.csv_digest(tight, campaign.id) == whole
        assert whole[1] == campaign.members > 45_000  # the removed members are not in a review
    finally:
        tight.close()


def test_a_changed_row_after_sign_off_is_detected(store, tmp_path):
    campaign = _create(store)
    campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True)
    with store.write() as cur:
        cur.execute("UPDATE review_items SET comment = 'tampered' WHERE campaign_id = ?", [campaign.id])
    with pytest.raises(ReviewError, match="no longer matches"):
        report.write_files(store, ADMIN_A, campaign.id, tmp_path)
    assert not list(tmp_path.glob("*.csv"))


# -- remediation ---------------------------------------------------------------------------------------------


def test_removal_requests_turn_overdue_then_done_from_the_change_log(store):
    campaign = _create(store, overdue_days=5)
    row = _all_rows(store, campaign.id).iloc[0]
    decisions.decide(store, ANALYST_A, campaign.id, row.partner_bc_id, row.member_key, decisions.REMOVE)
    closed_at = T0 + timedelta(days=1)
    campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True, now=closed_at)
    requests = remediation.requests(store, ADMIN_A, campaign_id=campaign.id, now=closed_at + timedelta(days=1))
    assert requests["status"].tolist() == [remediation.REQUESTED]
    late = closed_at + timedelta(days=6)
    assert remediation.requests(store, ADMIN_A, now=late)["status"].tolist() == [remediation.OVERDUE]
    guest = remediation.for_partner_guest(store, GUEST_A, row.partner_bc_id, now=late)
    assert guest["member"].tolist() == [row.member]
    assert guest["status"].tolist() == [remediation.OVERDUE]
    assert remediation.for_partner_guest(store, GUEST_A, "another-partner", now=late).empty
    removed_at = closed_at + timedelta(days=7)
    with store.write() as cur:  # what a sync writes when the member is gone
        cur.execute(
            """INSERT INTO member_changes (task_id, partner_bc_id, member_key, change, old_value, changed_at)
               VALUES (9, ?, ?, 'removed', 'STANDARD', ?)""",
            [row.partner_bc_id, row.member_key, removed_at],
        )
    done = remediation.requests(store, ADMIN_A, now=late + timedelta(days=9))
    assert done["status"].tolist() == [remediation.DONE]
    assert done["done_at"][0].to_pydatetime() == removed_at
    assert remediation.for_partner_guest(store, GUEST_A, row.partner_bc_id).empty
    listed = list(
        csv.reader(
            io.StringIO(
                remediation.request_csv(store, ADMIN_A, campaign.id, row.partner_bc_id).decode("utf-8"), newline=""
            )
        )
    )
    assert listed[1][5:8] == ["Done", (closed_at + timedelta(days=5)).strftime("%Y-%m-%d"), "2026-06-09"]


def test_only_remove_decisions_of_signed_off_campaigns_are_requests(store):
    campaign = _create(store)
    rows = _all_rows(store, campaign.id)
    decisions.decide(store, ANALYST_A, campaign.id, rows.partner_bc_id[0], rows.member_key[0], decisions.REMOVE)
    decisions.decide(store, ANALYST_A, campaign.id, rows.partner_bc_id[1], rows.member_key[1], decisions.KEEP)
    assert remediation.requests(store, ADMIN_A).empty  # not signed off yet
    campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True)
    assert remediation.requests(store, ADMIN_A)["member_key"].tolist() == [rows.member_key[0]]
