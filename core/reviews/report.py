"""The attestation report of a signed-off campaign: a CSV of every snapshot row (through the formula-safe
writer) and a PDF summary (fpdf2) carrying the CSV's SHA-256, so the two can be matched.

The CSV is rebuilt from the frozen, read-only rows in a fixed order, so every download has the same bytes; its
SHA-256 is stored at sign-off and checked when the files are written. The PDF is built once at sign-off and
stored; its creation date and document id derive from the sign-off time, so building it again gives the same
bytes too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpdf import FPDF

from core.members import columns, export
from core.members.columns import Cell
from core.members.filters import MemberFilter, Where
from core.reviews import snapshot
from core.reviews.errors import ReviewError
from core.security import audit
from core.security.roles import Actor, require_reader
from core.security.safe_csv import csv_chunks, csv_line_sql, joined_lines
from core.store.cursor import Cursor
from core.store.database import Store

if TYPE_CHECKING:
    from core.reviews.campaigns import Campaign

_DECISION = (
    "CASE decision WHEN 'keep' THEN 'Keep' WHEN 'remove' THEN 'Remove' WHEN 'needs_info' THEN 'Needs info' "
    "ELSE 'Undecided' END"
)
_MEMBER_COLUMNS = (
    "Member",
    "Email",
    "User ID",
    "Partner",
    "Partner BC ID",
    "TikTok role",
    "Finance role",
    "Membership status",
    "Risk flags",
)
# the member export's columns (over the snapshot, the partner name as frozen), then the decision
COLUMNS = {
    **{name: columns.EXPORT_COLUMNS[name] for name in _MEMBER_COLUMNS},
    "Decision": Cell(_DECISION, ("decision",)),
    "Reviewer": Cell("coalesce(decided_by, '')", ("decided_by",)),
    "Decided at": Cell(columns.time_text("decided_at"), ("decided_at",)),
    "Comment": Cell("coalesce(comment, '')", ("comment",)),
}
CHUNK_ROWS = export.CHUNK_ROWS  # the rows DuckDB sorts at a time, as the member export's
_ORDER = snapshot.review_filter(MemberFilter(sort="partner"))  # every row, by partner name, partner id, member
_PARTNER_LOWER = dict(snapshot.DECISION_COLUMNS)["partner_lower"]  # the frozen name, per row


def _lines_sql(store: Store, campaign_id: int, r: export.SortRange) -> tuple[str, list[object]]:
    """Each snapshot row's CSV line of the range `r`, in the report's fixed order (partner name, partner id,
    member key: the Members sort by partner)."""
    names = [f"_cell{i}" for i in range(len(COLUMNS))]
    cells = ", ".join(f"({cell.sql})::VARCHAR AS {n}" for n, cell in zip(names, COLUMNS.values(), strict=True))
    reads = (*columns.order_reads(_ORDER), *columns.reads_of(COLUMNS.values()))
    sql, params = columns.query(
        store, None, reads, f"{r.keys}, {cells}", scope=r.scope, src=snapshot.source(campaign_id)
    )
    line = f"SELECT {csv_line_sql(names)} AS line FROM ({sql}) AS cells WHERE {r.where} {r.order}"
    return line, [*params, *r.where_params]


def _ranges(store: Store, cur: Cursor, campaign_id: int, chunk_rows: int) -> Iterator[tuple[str, list[object]]]:
    """The queries whose lines, one after the other, are the report: on DuckDB one per range of about
    `chunk_rows` rows of its order, as the member export's (its sort fails past DuckDB's memory limit, where a
    campaign of a million rows would take it); on PostgreSQL, one query."""
    src = snapshot.source(campaign_id)
    cuts = export.boundaries(store, cur, _ORDER, chunk_rows, src) if store.dialect == "duckdb" else []
    bounds: list[export.SortKey | None] = [None, *cuts, None]
    for start, end in pairwise(bounds):
        r = export.key_range(_ORDER, start, end)
        yield _lines_sql(store, campaign_id, r._replace(scope=_names_between(start, end)))


def _names_between(start: export.SortKey | None, end: export.SortKey | None) -> Where:
    """A condition on `m` that DuckDB applies in its scan, true for every row of the range after `start` up to
    `end` (and some of their neighbours): their partner names lie between the two's (NULLs last). Without it
    each range would build every row's flags and lines before its condition on the sort key drops them."""
    parts: list[str] = []
    params: list[object] = []
    if start is not None and start[0] is None:
        parts.append(f"{_PARTNER_LOWER} IS NULL")
    elif start is not None:
        parts.append(f"({_PARTNER_LOWER} >= ? OR {_PARTNER_LOWER} IS NULL)")
        params.append(start[0])
    if end is not None and end[0] is not None:
        parts.append(f"{_PARTNER_LOWER} <= ?")
        params.append(end[0])
    return Where(" AND ".join(parts) or "TRUE", tuple(params))


def csv_stream(store: Store, campaign_id: int) -> Iterator[bytes]:
    """The report CSV as chunks: header, then every snapshot row."""
    with export.ranged_reader(store, lambda cur: _ranges(store, cur, campaign_id, CHUNK_ROWS)) as batches:
        yield from csv_chunks(COLUMNS, [])
        yield from (joined_lines(b.column(0)) for b in batches if b.num_rows)


def csv_digest(store: Store, campaign_id: int) -> tuple[str, int]:
    """The SHA-256 (hex) of the report CSV and its data rows."""
    digest, lines = hashlib.sha256(), -1
    for chunk in csv_stream(store, campaign_id):
        digest.update(chunk)
        lines += chunk.count(b"\r\n")
    with store.read() as cur:  # rows, not lines: a comment may hold line breaks
        rows = cur.execute("SELECT count(*) FROM review_items WHERE campaign_id = ?", [campaign_id]).fetchall()[0][0]
    return digest.hexdigest(), int(rows)


def _latin1(text: object) -> str:
    """The PDF's standard fonts are Latin-1: other characters print as `?` (the CSV keeps them)."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _counts(store: Store, campaign_id: int) -> list[tuple[Any, ...]]:
    with store.read() as cur:
        return cur.execute(
            """SELECT min(coalesce(partner_name, partner_bc_id)) AS partner, partner_bc_id, count(*),
                      count(*) FILTER (WHERE decision = 'keep'), count(*) FILTER (WHERE decision = 'remove'),
                      count(*) FILTER (WHERE decision = 'needs_info'), count(*) FILTER (WHERE decision IS NULL)
               FROM review_items WHERE campaign_id = ? GROUP BY partner_bc_id
               ORDER BY lower(min(coalesce(partner_name, partner_bc_id))), partner_bc_id""",
            [campaign_id],
        ).fetchall()


def _undecided(store: Store, campaign_id: int, limit: int) -> list[tuple[Any, ...]]:
    with store.read() as cur:
        return cur.execute(
            """SELECT coalesce(partner_name, partner_bc_id), coalesce(user_name, user_email, member_key), user_email
               FROM review_items WHERE campaign_id = ? AND decision IS NULL
               ORDER BY lower(partner_name), partner_bc_id, member_key LIMIT ?""",
            [campaign_id, limit],
        ).fetchall()


def build_pdf(store: Store, campaign: Campaign, csv_sha256: str, csv_rows: int, undecided_listed: int = 100) -> bytes:
    """The PDF summary of a signed-off campaign (same bytes for the same campaign)."""
    from core.reviews import campaigns  # campaigns imports this module

    if campaign.closed_at is None:
        raise ReviewError("The report exists once the campaign is signed off.")
    counts = _counts(store, campaign.id)
    names = {bc: name for name, bc, *_ in counts}
    assigned = campaigns.reviewers(store, campaign.id)
    pdf = FPDF(format="A4")
    pdf.set_creation_date(campaign.closed_at.astimezone(UTC))
    pdf.set_title(_latin1(f"Access review #{campaign.id}: {campaign.name}"))
    pdf.set_author("PartnerWatch")
    pdf.set_creator("PartnerWatch")
    pdf.set_producer("PartnerWatch")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, _latin1(f"Access review attestation: {campaign.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    lines = [
        f"Campaign: #{campaign.id}",
        f"Scope: {campaign.scope.describe(names)}",
        f"Snapshot: {campaign.snapshot_at:%Y-%m-%d %H:%M:%S UTC} by {campaign.created_by} "
        f"({campaign.members} guest users)",
        f"Due date: {campaign.due_date or 'none'}",
        f"Signed off: {campaign.closed_at:%Y-%m-%d %H:%M:%S UTC} by {campaign.closed_by}",
        f"Undecided at sign-off: {campaign.undecided or 0}",
        f"Removals requested become overdue {campaign.overdue_days} days after sign-off.",
    ]
    for line in lines:
        pdf.multi_cell(0, 5.5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    _section(pdf, "Reviewers")
    for name, bc, *_ in counts:
        who = ", ".join(assigned.get(bc, [])) or "all analysts"
        pdf.multi_cell(0, 5.5, _latin1(f"{name}: {who}"), new_x="LMARGIN", new_y="NEXT")
    _section(pdf, "Decisions per partner")
    totals = [sum(row[i] for row in counts) for i in range(2, 7)]
    with pdf.table(col_widths=(60, 22, 22, 22, 24, 24), text_align=("LEFT", *["RIGHT"] * 5)) as table:
        for row in [
            ("Partner", "Members", "Keep", "Remove", "Needs info", "Undecided"),
            *[(name, *row) for name, _bc, *row in counts],
            ("All partners", *totals),
        ]:
            cells = table.row()
            for value in row:
                cells.cell(_latin1(value))
    if campaign.undecided:
        _section(pdf, "Undecided at sign-off")
        listed = _undecided(store, campaign.id, undecided_listed)
        for partner, member, email in listed:
            pdf.multi_cell(0, 5, _latin1(f"{partner}: {member} <{email or ''}>"), new_x="LMARGIN", new_y="NEXT")
        if campaign.undecided > len(listed):
            more = campaign.undecided - len(listed)
            pdf.multi_cell(0, 5, f"... and {more} more (every one is in the CSV).", new_x="LMARGIN", new_y="NEXT")
    _section(pdf, "Attestation CSV")
    pdf.multi_cell(0, 5.5, f"Rows: {csv_rows}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "", 9)
    pdf.multi_cell(0, 5.5, f"SHA-256: {csv_sha256}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _section(pdf: FPDF, title: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def file_names(campaign_id: int) -> tuple[str, str]:
    return f"access-review-{campaign_id}.csv", f"access-review-{campaign_id}.pdf"


def stored_pdf(store: Store, actor: Actor, campaign_id: int) -> bytes:
    """The signed-off PDF as stored (admins and analysts)."""
    require_reader(actor, "download access review reports")
    with store.read() as cur:
        rows = cur.execute("SELECT pdf FROM review_campaigns WHERE id = ?", [campaign_id]).fetchall()
    if not rows or rows[0][0] is None:
        raise ReviewError(f"Access review #{campaign_id} has no report yet: it is produced at sign-off.")
    return bytes(rows[0][0])


def csv_bytes(store: Store, actor: Actor, campaign_id: int) -> bytes:
    """The whole report CSV in memory (the page's download; the CLI streams it to a file), checked and audited."""
    stored_pdf(store, actor, campaign_id)  # checks the role and that there is a report
    data = b"".join(csv_stream(store, campaign_id))
    _check_digest(store, campaign_id, hashlib.sha256(data).hexdigest())
    audit_download(store, actor, campaign_id, "CSV")
    return data


def write_files(store: Store, actor: Actor, campaign_id: int, out_dir: Path) -> tuple[Path, Path]:
    """Write the report's CSV and PDF into `out_dir` (the CLI); the CSV is checked against its stored SHA-256."""
    pdf = stored_pdf(store, actor, campaign_id)
    csv_name, pdf_name = file_names(campaign_id)
    csv_path, pdf_path = out_dir / csv_name, out_dir / pdf_name
    partial = csv_path.with_name(csv_name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as handle:
            for chunk in csv_stream(store, campaign_id):
                digest.update(chunk)
                handle.write(chunk)
        _check_digest(store, campaign_id, digest.hexdigest())
        partial.replace(csv_path)
    finally:
        partial.unlink(missing_ok=True)
    pdf_path.write_bytes(pdf)
    audit_download(store, actor, campaign_id, "CSV and PDF")
    return csv_path, pdf_path


def _check_digest(store: Store, campaign_id: int, digest: str) -> None:
    with store.read() as cur:
        stored = cur.execute("SELECT csv_sha256 FROM review_campaigns WHERE id = ?", [campaign_id]).fetchall()[0][0]
    if digest != stored:
        raise ReviewError(
            f"The report CSV of access review #{campaign_id} no longer matches the SHA-256 signed off "
            f"({stored}); its rows were changed after sign-off. Nothing was written."
        )


def audit_download(store: Store, actor: Actor, campaign_id: int, what: str) -> None:
    """Record that the report (or part of it) left PartnerWatch."""
    audit.record(
        store,
        actor=actor.email,
        action="review.report",
        target=f"campaign #{campaign_id}",
        outcome="ok",
        detail=f"{what} downloaded at {datetime.now(UTC):%Y-%m-%d %H:%M:%S UTC}",
    )
