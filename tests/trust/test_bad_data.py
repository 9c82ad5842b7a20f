"""Bad data: hypothesis-generated TikTok pages (missing fields, unicode, very long strings, IDs beyond 2^53,
wrong types) served to the real TikTokClient through httpx.MockTransport, synced by the real Check for
updates and member sync into a real Store. Each example is stored exactly (ids as exact strings, text
intact) or the task ends `Not completed` naming the path, the item and the bad field, with the stored
data unchanged; never "Unexpected error", never an exception out of the sync."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import services as core_services
from core.accounts import connection, integration, partners, tokens
from core.services import Services
from core.sync import check_for_updates, safeguard
from core.tasks import jobs
from core.tiktok.client import TikTokClient
from tests.support.compare import content
from tests.support.services import ADMIN_ACTOR, make_services

CUSTOMER_BC = "7000000000000000001"
PARTNER_BC = "7300000000000000002"
PARTNER_NAME = "Ünïcødé Pärtner 北斗"
STATUSES = ("BOUND", "PENDING", "REJECTED", "UNBOUND")
DROP = object()  # a corruption that removes the field
EXAMPLES = settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BAD_IDS = [1.2e19, 9007199254740993.0, True, {"id": "1"}, ["1"]]
BAD_TEXTS = [42, 4.5, False, ["x"], {"a": "b"}]
TEXT = st.text(max_size=30)
LONG_TEXT = st.text(min_size=1, max_size=8).map(lambda s: s * 1000)  # up to 8,000 characters
NAME = st.one_of(st.none(), TEXT, LONG_TEXT)
ID = st.one_of(st.integers(2**53 + 1, 2**64 - 1), st.integers(1, 2**63).map(str))  # JSON numbers or strings
NO_SPACE = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))


def _text(value: Any) -> str | None:
    """What the member sync stores for a text field: None when blank, else the exact string."""
    return None if value is None or str(value).strip() == "" else str(value)


# -- the fake TikTok --------------------------------------------------------------------------------


@dataclass
class FakeTikTok:
    """Serves the current example's items, paged like TikTok (list + page_info), for every listing."""

    partners: list[Any] = field(default_factory=list)
    assets: list[Any] = field(default_factory=list)  # shared by us (SHARING), ADVERTISER
    members: list[Any] = field(default_factory=list)
    asset_members: dict[str, list[Any]] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/open_api/v1.3/", 1)[1]
        params = request.url.params
        items = self._items(path, params)
        page, size = int(params["page"]), int(params["page_size"])
        data = {
            "list": items[(page - 1) * size : page * size],
            "page_info": {
                "page": page,
                "page_size": size,
                "total_number": len(items),
                "total_page": max(1, math.ceil(len(items) / size)),
            },
        }
        body = {"code": 0, "message": "OK", "request_id": "rid", "data": data}
        return httpx.Response(200, content=json.dumps(body).encode())

    def _items(self, path: str, params: httpx.QueryParams) -> list[Any]:
        if path == "bc/get/":
            return [{"bc_info": {"bc_id": PARTNER_BC, "name": PARTNER_NAME}, "user_role": "ADMIN"}]
        if path == "bc/partner/get/":
            return self.partners
        if path == "bc/partner/asset/get/":
            wanted = (params["asset_type"], params["share_type"]) == ("ADVERTISER", partners.SHARING)
            return self.assets if wanted else []
        if path == "bc/member/get/":
            status = json.loads(params["filtering"])["relation_status"]
            return [m for m in self.members if listed_under(m) == status]
        if path == "bc/asset/member/get/":
            return self.asset_members.get(params["asset_id"], [])
        if path in ("bc/asset/admin/get/", "bc/asset/partner/get/"):
            return []  # no own asset of the types bc/partner/asset/get/ does not serve
        raise AssertionError(f"unexpected call {path}")


def listed_under(member: dict) -> str:
    """The relation_status listing a member is served in (BOUND when it has no usable status)."""
    status = member.get("relation_status")
    return status if status in STATUSES else "BOUND"


# -- workspace --------------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Services, FakeTikTok]]:
    """A store with the customer BC connected and one onboarded partner, whose TikTok is a FakeTikTok."""
    svc = make_services(tmp_path, None, PW_QPS="10000")
    fake = FakeTikTok()
    transport = httpx.MockTransport(fake)
    svc.client = lambda on_retry=None: TikTokClient(  # type: ignore[method-assign]
        svc.client_config(), svc.limiter, on_retry=on_retry, transport=transport
    )
    integration.connect(
        svc.store,
        svc.box,
        access_token="customer-token",
        actor="tests",
        bcs=[{"bc_info": {"bc_id": CUSTOMER_BC, "name": "Acme"}, "user_role": "ADMIN"}],
    )
    with svc.store.write() as cur:
        partners.apply_partner_list(cur, [{"bc_id": PARTNER_BC, "bc_name": PARTNER_NAME}], datetime.now(UTC))
        token_id = tokens.save(
            cur, svc.box, purpose="partner", bc_id=PARTNER_BC, actor="tests", access_token="partner-token"
        )
    with svc.store.write() as cur:
        connection.connected(cur, PARTNER_BC, token_id)
    safeguard.set_threshold_pct(svc.store, ADMIN_ACTOR, 100)  # every example may replace all members
    yield svc, fake
    core_services.install(None)
    svc.close()


def _run(svc: Services, partner_bc_id: str | None = None) -> tuple[str, str]:
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR, partner_bc_id=partner_bc_id)
    status = svc.runner.wait(task_id, timeout=30)
    task = jobs.list_tasks(svc.store).set_index("id").loc[task_id]
    return status, task["error"] if isinstance(task["error"], str) else ""


def _assert_rejected(status: str, error: str, path: str, where: str, field_name: str) -> None:
    assert status == jobs.NOT_COMPLETED, "a bad page was stored"
    assert "Unexpected error" not in error
    assert f"TikTok sent an unexpected response on {path}: {where}" in error, error
    assert field_name in error


# -- corruptions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corruption:
    """One field of one item made bad: its path, the field, and the value (DROP removes it)."""

    field: str
    value: Any

    def apply(self, item: dict) -> dict:
        bad = dict(item)
        if self.value is DROP:
            bad.pop(self.field, None)
        else:
            bad[self.field] = self.value
        return bad


def corruptions(
    id_fields: tuple[str, ...], text_fields: tuple[str, ...], required: tuple[str, ...]
) -> st.SearchStrategy[Corruption]:
    return st.one_of(
        st.builds(Corruption, st.sampled_from(id_fields), st.sampled_from(BAD_IDS)),
        st.builds(Corruption, st.sampled_from(text_fields), st.sampled_from(BAD_TEXTS)),
        *([st.builds(Corruption, st.sampled_from(required), st.just(DROP))] if required else []),
    )


# -- partner list -----------------------------------------------------------------------------------


@st.composite
def partner_pages(draw: st.DrawFn) -> tuple[list[dict], tuple[int, Corruption] | None]:
    ids = draw(st.lists(ID, min_size=1, max_size=6, unique_by=str))
    items = []
    for bc_id in ids:
        name = draw(NAME)
        items.append({"bc_id": bc_id, **({"bc_name": name} if name is not None or draw(st.booleans()) else {})})
    bad = draw(st.none() | st.tuples(st.integers(0, len(items) - 1), corruptions(("bc_id",), ("bc_name",), ("bc_id",))))
    if bad is not None:
        items[bad[0]] = bad[1].apply(items[bad[0]])
    return items, bad


@pytest.mark.slow
def test_partner_list_pages_are_stored_exactly_or_rejected(workspace):
    svc, fake = workspace

    @EXAMPLES
    @given(page=partner_pages())
    def check(page: tuple[list[dict], tuple[int, Corruption] | None]) -> None:
        fake.partners, bad = page
        before = content(svc.store)["partners"]
        status, error = _run(svc)
        stored = {(bc_id, name) for bc_id, name, *_rest in content(svc.store)["partners"] if _rest[-1]}
        if bad is None:
            assert (status, error) == (jobs.COMPLETED, "")
            assert stored == {(str(p["bc_id"]), p.get("bc_name") or "") for p in fake.partners}
        else:
            index, corruption = bad
            assert error.startswith("Could not read the partner list: ")
            _assert_rejected(status, error, "bc/partner/get/", f"list[{index}].{corruption.field}", corruption.field)
            assert content(svc.store)["partners"] == before

    check()


# -- members of an onboarded partner ----------------------------------------------------------------


@dataclass
class MemberPages:
    assets: list[dict]
    members: list[dict]
    asset_members: dict[str, list[dict]]
    bad: tuple[str, str, str] | None = None  # path, "list[i].field", field


@st.composite
def member_identity(draw: st.DrawFn, n: int, user_id: int | str) -> dict:
    """Member `n`: a user with its (unique) id, or an invitee known by e-mail only."""
    email = f"{draw(st.text(NO_SPACE, min_size=1, max_size=12))}.{n}@agency.example"
    if draw(st.booleans()):
        return {"user_id": user_id, "user_email": email}
    return {"user_email": email}


@st.composite
def member_pages(draw: st.DrawFn) -> MemberPages:
    members = []
    user_ids = draw(st.lists(ID, max_size=45, unique_by=str))  # up to 3 pages of 20 in one listing
    for n, user_id in enumerate(user_ids):
        member = draw(member_identity(n, user_id))
        if (name := draw(NAME)) is not None:
            member["user_name"] = name
        if (role := draw(st.none() | st.sampled_from(["ADMIN", "STANDARD"]) | TEXT)) is not None:
            member["user_role"] = role
        if (status := draw(st.none() | st.sampled_from(STATUSES))) is not None:
            member["relation_status"] = status
        if (finance := draw(st.none() | st.sampled_from(["MANAGER", "ANALYST"]))) is not None:
            member["ext_user_role"] = {"finance_role": finance}
        members.append(member)
    asset_ids = draw(st.lists(ID, max_size=3, unique_by=str))
    assets = [{"asset_id": a, **({"asset_name": n} if (n := draw(NAME)) is not None else {})} for a in asset_ids]
    reach = {
        str(a): [
            {
                **{k: m[k] for k in ("user_id", "user_email") if k in m},
                "advertiser_role": draw(st.sampled_from(["ADMIN", "OPERATOR", "ANALYST"])),
            }
            for m in draw(st.lists(st.sampled_from(members), max_size=5, unique_by=_key))
        ]
        if members
        else []
        for a in asset_ids
    }
    pages = MemberPages(assets, members, reach)
    _corrupt(draw, pages)
    return pages


def _corrupt(draw: st.DrawFn, pages: MemberPages) -> None:
    """Maybe make one field of one item bad, recording where the error must point."""
    targets = [t for t, items in (("asset", pages.assets), ("member", pages.members)) if items]
    targets += [f"reach:{a}" for a, items in pages.asset_members.items() if items]
    if not targets or not draw(st.booleans()):
        return
    target = draw(st.sampled_from(targets))
    if target == "asset":
        i = draw(st.integers(0, len(pages.assets) - 1))
        bad = draw(corruptions(("asset_id",), ("asset_name",), ("asset_id",)))
        pages.assets[i] = bad.apply(pages.assets[i])
        pages.bad = ("bc/partner/asset/get/", f"list[{i}].{bad.field}", bad.field)
    elif target == "member":
        i = draw(st.integers(0, len(pages.members) - 1))
        bad = draw(corruptions(("user_id",), ("user_name", "user_email", "user_role", "relation_status"), ()))
        pages.members[i] = bad.apply(pages.members[i])
        listing = [m for m in pages.members if listed_under(m) == listed_under(pages.members[i])]
        index = next(n for n, m in enumerate(listing) if m is pages.members[i])
        pages.bad = ("bc/member/get/", f"list[{index}].{bad.field}", bad.field)
    else:
        asset_id = target.split(":", 1)[1]
        items = pages.asset_members[asset_id]
        i = draw(st.integers(0, len(items) - 1))
        items[i] = {"advertiser_role": items[i]["advertiser_role"]}  # neither user_id nor user_email
        pages.bad = ("bc/asset/member/get/", f"list[{i}] has neither user_id nor user_email", "user_id")


def _key(member: dict) -> str:
    user_id = str(member.get("user_id") or "").strip()
    return user_id or str(member["user_email"]).strip().lower()


def _expected_members(pages: MemberPages) -> set[tuple]:
    return {
        (
            _key(m),
            _text(m.get("user_id")),
            _text(m.get("user_name")),
            _text(m.get("user_email")),
            _text(m.get("user_role")),
            _text((m.get("ext_user_role") or {}).get("finance_role")),
            _text(m.get("relation_status")),
        )
        for m in pages.members
    }


def _expected_reach(pages: MemberPages) -> set[tuple]:
    names = {str(a["asset_id"]): _text(a.get("asset_name")) for a in pages.assets}
    return {
        (_key(item), asset_id, "ADVERTISER", names[asset_id], item["advertiser_role"])
        for asset_id, items in pages.asset_members.items()
        for item in items
    }


def _stored(svc: Services) -> tuple[set[tuple], set[tuple], set[tuple]]:
    with svc.store.read() as cur:
        stored_members = set(
            cur.execute(
                """SELECT member_key, user_id, user_name, user_email, user_role, finance_role, relation_status
               FROM members WHERE partner_bc_id = ? AND removed_at IS NULL""",
                [PARTNER_BC],
            ).fetchall()
        )
        reach = set(
            cur.execute(
                """SELECT member_key, asset_id, asset_type, asset_name, asset_role
                                   FROM member_assets WHERE partner_bc_id = ?""",
                [PARTNER_BC],
            ).fetchall()
        )
        assets = set(
            cur.execute(
                """SELECT asset_id, asset_type, asset_name, share_type FROM partner_assets
                                    WHERE partner_bc_id = ?""",
                [PARTNER_BC],
            ).fetchall()
        )
    return stored_members, reach, assets


@pytest.mark.slow
def test_member_pages_are_stored_exactly_or_rejected(workspace):
    svc, fake = workspace

    @EXAMPLES
    @given(pages=member_pages())
    def check(pages: MemberPages) -> None:
        fake.assets, fake.members, fake.asset_members = pages.assets, pages.members, pages.asset_members
        before = _stored(svc)
        status, error = _run(svc, PARTNER_BC)
        if pages.bad is None:
            assert (status, error) == (jobs.COMPLETED, "")
            stored_members, reach, assets = _stored(svc)
            assert stored_members == _expected_members(pages)
            assert reach == _expected_reach(pages)
            assert assets == {
                (str(a["asset_id"]), "ADVERTISER", a.get("asset_name") or "", partners.SHARING) for a in pages.assets
            }
        else:
            path, where, field_name = pages.bad
            assert error.startswith(f"1 of 1 partners did not complete: {PARTNER_NAME}: ")
            _assert_rejected(status, error, path, where, field_name)
            assert _stored(svc) == before

    check()
