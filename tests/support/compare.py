"""What PartnerWatch stored or exports, in shapes to compare: with TikTok's world as the sandbox serves it
(GET /sandbox/world, in the export's shape), or before and after a failure."""

from __future__ import annotations

import csv
import io

from core.members import export, paging
from core.members.filters import MemberFilter
from core.security import safe_csv
from core.services import Services
from core.store.database import Store
from core.tiktok import labels
from sandbox.server import SandboxServer
from tests.support.sandbox import monitored_partners, world
from tests.support.services import ANALYST_ACTOR

ROLE_LABELS = {"ADMIN": "Admin", "STANDARD": "Standard"}
FINANCE_LABELS = {"MANAGER": "Manager", "ANALYST": "Analyst"}

CONTENT_SQL = {
    "partners": """SELECT bc_id, name, assets_shared_with_partner, assets_shared_by_partner, connection,
                          removed_at IS NULL FROM partners ORDER BY 1, 2, 3, 4, 5, 6""",
    "partner_assets": "SELECT partner_bc_id, asset_id, asset_type, asset_name, share_type FROM partner_assets "
    "ORDER BY 1, 2, 3, 4, 5",
    "members": """SELECT partner_bc_id, member_key, user_id, user_name, user_email, user_role, finance_role,
                         relation_status, removed_at IS NULL FROM members ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9""",
    "member_assets": "SELECT partner_bc_id, member_key, asset_id, asset_type, asset_role FROM member_assets "
    "ORDER BY 1, 2, 3, 4, 5",
    "member_changes": "SELECT count(*) FROM member_changes",
}


def content(store: Store) -> dict[str, list[tuple]]:
    """Everything a sync writes, without timestamps, read in one snapshot."""
    with store.read() as cur:
        return {name: cur.execute(sql).fetchall() for name, sql in CONTENT_SQL.items()}


def world_rows(world_json: dict, partner_bc_ids: list[str]) -> list[dict[str, str]]:
    """The export's rows (identity, roles, status, assets reached) for these partners, from the world."""
    bcs = {bc["bc_info"]["bc_id"]: bc for bc in world_json["business_centers"]}
    customer = world_json["customer"]["bc_id"]
    names = {a["asset_id"]: (a["asset_name"], a["asset_type"]) for bc in bcs.values() for a in bc["assets"]}
    rows = []
    for bc_id in partner_bc_ids:
        bc = bcs[bc_id]
        sharing = {
            s["asset_id"] for s in world_json["shares"] if s["owner_bc_id"] == customer and s["partner_bc_id"] == bc_id
        }
        reach: dict[str, list[tuple[str, str, str, str]]] = {}
        for assignment in bc["assignments"]:
            if assignment["asset_id"] in sharing:
                name, kind = names[assignment["asset_id"]]
                for grant in assignment["members"]:
                    reach.setdefault(grant["key"], []).append((name, assignment["asset_id"], kind, grant["role"]))
        for m in bc["members"]:
            key = m.get("user_id") or m["user_email"].lower()
            finance = (m.get("ext_user_role") or {}).get("finance_role")
            assets = "; ".join(f"{n} ({k}: {r})" for n, _, k, r in sorted(reach.get(key, [])))
            rows.append(
                {
                    "Member": m.get("user_name") or "",
                    "Email": m["user_email"],
                    "User ID": m.get("user_id") or "",
                    "Partner BC ID": bc_id,
                    "TikTok role": ROLE_LABELS[m["user_role"]],
                    "Finance role": FINANCE_LABELS.get(finance, ""),
                    "Membership status": labels.STATUSES[m["relation_status"]],
                    "Your assets reached": assets,
                }
            )
    return sorted(
        ({k: safe_csv.safe_cell(v) for k, v in r.items()} for r in rows),
        key=lambda r: (r["Partner BC ID"], r["User ID"], r["Email"]),
    )


def exported_rows(svc: Services, f: MemberFilter | None = None) -> list[dict[str, str]]:
    """The CSV export read back with csv.DictReader."""
    chunks = export.stream_members(svc.store, f or MemberFilter(), actor=ANALYST_ACTOR)
    data = b"".join(chunks).decode("utf-8")
    return list(csv.DictReader(io.StringIO(data, newline="")))


def comparable(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    keep = (
        "Member",
        "Email",
        "User ID",
        "Partner BC ID",
        "TikTok role",
        "Finance role",
        "Membership status",
        "Your assets reached",
    )
    return sorted(({k: r[k] for k in keep} for r in rows), key=lambda r: (r["Partner BC ID"], r["User ID"], r["Email"]))


def assert_matches_world(svc: Services, sandbox: SandboxServer) -> None:
    """What PartnerWatch exports (and so shows) for the connected partners equals TikTok's world."""
    partner_ids = [p.bc_id for p in monitored_partners(sandbox)]
    expected = world_rows(world(sandbox), partner_ids)
    assert comparable(exported_rows(svc)) == expected
    shown = paging.page(svc.store, MemberFilter(), limit=1000)
    assert len(shown) == paging.count(svc.store, MemberFilter()) == len(expected)


def table_state(svc: Services) -> dict[str, list[tuple]]:
    """Everything the member sync writes, for "nothing changed" assertions."""
    with svc.store.read() as cur:
        return {
            name: sorted(cur.execute(f"SELECT * FROM {name}").fetchall(), key=repr)  # any order: both stores
            for name in (
                "members",
                "member_assets",
                "member_changes",
                "member_syncs",
                "member_sync_latest",
                "member_change_counts",
                "partner_assets",
            )
        }
