"""Fixtures for the guest-user tests: a workspace with the customer BC and every eligible ADMIN-monitored
partner connected and synced against a freshly reset sandbox, plus helpers that read the sandbox's
world (GET /sandbox/world) in the export's shape, so tests compare what PartnerWatch shows with TikTok."""

from __future__ import annotations

import csv
import dataclasses
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import services as core_services
from core.accounts import tokens
from core.connect import workspace
from core.members import export, queries
from core.members.queries import MemberFilter
from core.security import safe_csv
from core.security.roles import ANALYST, Actor
from core.services import Services
from core.sync import check_for_updates
from core.tasks import jobs
from core.tiktok.client import ClientConfig
from sandbox.server import SandboxServer
from tests.support.services import ADMIN_ACTOR, CUSTOMER_ADMIN, connect_customer, connect_partner, make_services

ANALYST_ACTOR = Actor("analyst@partnerwatch.local", ANALYST)
ROLE_LABELS = {"ADMIN": "Admin", "STANDARD": "Standard"}
FINANCE_LABELS = {"MANAGER": "Manager", "ANALYST": "Analyst"}


def fast_retries(svc: Services) -> None:
    """Same retry policy, shorter waits (the sandbox's faults are retried in milliseconds)."""
    config = dataclasses.replace(svc.client_config(), backoff_base_s=0.005, backoff_cap_s=0.02, throttle_penalty_s=0.01)
    svc.client_config = lambda: config  # type: ignore[method-assign]
    assert isinstance(config, ClientConfig)


def run_sync(svc: Services, partner_bc_id: str | None = None) -> tuple[int, str]:
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR, partner_bc_id=partner_bc_id)
    return task_id, svc.runner.wait(task_id, timeout=60)


def wait_all(svc: Services) -> None:
    for task_id in jobs.list_tasks(svc.store)["id"]:
        svc.runner.wait(int(task_id), timeout=60)


def monitored_partners(sandbox: SandboxServer) -> list:
    return [p for p in sandbox.world.partners if p.eligible and p.monitor_role == "ADMIN"]


def onboard(tmp_path: Path, sandbox: SandboxServer) -> Services:
    svc = make_services(tmp_path, sandbox, PW_QPS="1000")
    fast_retries(svc)
    workspace.sandbox_users(svc.store)  # the sandbox workspace's admin starts the connections
    assert connect_customer(svc, sandbox).ok
    assert run_sync(svc)[1] == jobs.COMPLETED
    for info in monitored_partners(sandbox):
        assert connect_partner(svc, sandbox, info.bc_id, info.monitor_email).ok
        wait_all(svc)
    assert run_sync(svc)[1] == jobs.COMPLETED
    return svc


@pytest.fixture(scope="session")
def onboarded_template(tmp_path_factory: pytest.TempPathFactory, sandbox_session: SandboxServer) -> Path:
    """A workspace directory onboarded once (OAuth through the portal, full syncs); tests copy it."""
    sandbox_session.reset()
    path = tmp_path_factory.mktemp("onboarded-template")
    svc = onboard(path, sandbox_session)
    core_services.install(None)
    svc.close()
    return path


def reissue_tokens(svc: Services, sandbox: SandboxServer) -> None:
    """A reset sandbox forgot every token: store fresh ones for the same accounts (as a reconnect would)."""
    with svc.store.write() as cur:
        customer = tokens.save(
            cur,
            svc.box,
            purpose="customer",
            bc_id=None,
            actor="tests",
            access_token=sandbox.world.issue_token(CUSTOMER_ADMIN),
        )
        cur.execute("UPDATE integration SET token_id = ? WHERE id = 1", [customer])
        for info in monitored_partners(sandbox):
            token_id = tokens.save(
                cur,
                svc.box,
                purpose="partner",
                bc_id=info.bc_id,
                actor="tests",
                access_token=sandbox.world.issue_token(info.monitor_email),
            )
            cur.execute("UPDATE partners SET token_id = ? WHERE bc_id = ?", [token_id, info.bc_id])


@pytest.fixture
def onboarded(onboarded_template: Path, tmp_path: Path, sandbox: SandboxServer) -> Iterator[Services]:
    """A copy of the onboarded workspace against the freshly reset sandbox."""
    shutil.copytree(onboarded_template, tmp_path, dirs_exist_ok=True)
    svc = make_services(tmp_path, sandbox, PW_QPS="1000")
    fast_retries(svc)
    reissue_tokens(svc, sandbox)
    yield svc
    core_services.install(None)
    svc.close()


def control(sandbox: SandboxServer, path: str, **body: object) -> dict:
    response = httpx.post(f"{sandbox.base_url}/sandbox/control/{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def world(sandbox: SandboxServer) -> dict:
    return httpx.get(f"{sandbox.base_url}/sandbox/world", timeout=30).json()


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
                    "Membership status": queries.STATUSES[m["relation_status"]],
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
    shown = queries.page(svc.store, MemberFilter(), limit=1000)
    assert len(shown) == queries.count(svc.store, MemberFilter()) == len(expected)


def table_state(svc: Services) -> dict[str, list[tuple]]:
    """Everything the member sync writes, for "nothing changed" assertions."""
    with svc.store.read() as cur:
        return {
            name: cur.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            for name in ("members", "member_assets", "member_changes", "member_syncs", "partner_assets")
        }


def prepared_workspace(template: Path, target: Path, sandbox: SandboxServer) -> dict[str, str]:
    """Copy an onboarded workspace to `target` with fresh tokens, closed: the env of a process using it."""
    shutil.copytree(template, target, dirs_exist_ok=True)
    svc = make_services(target, sandbox, PW_QPS="1000")
    reissue_tokens(svc, sandbox)
    core_services.install(None)
    svc.close()
    return {
        "PW_DB_PATH": str(target / "pw.duckdb"),
        "PW_DATA_DIR": str(target / "data"),
        "PW_SANDBOX_PORT": str(sandbox.port),
        "PW_QPS": "1000",
    }
