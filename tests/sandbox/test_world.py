"""The generated world: determinism, the accounts the app relies on, and member variety."""

from __future__ import annotations

import json

from sandbox.generate import CUSTOMER_ADMIN_EMAIL
from sandbox.models import BOUND, PENDING
from sandbox.world import World


def _dump(world: World) -> bytes:
    return json.dumps(world.to_json(), ensure_ascii=False).encode()


def test_same_seed_same_world_byte_for_byte() -> None:
    assert _dump(World(seed=11, partners=4, members=30)) == _dump(World(seed=11, partners=4, members=30))


def test_different_seeds_differ() -> None:
    assert _dump(World(seed=11, partners=4, members=30)) != _dump(World(seed=12, partners=4, members=30))


def test_http_world_is_deterministic_and_equals_a_fresh_world(sandbox, http) -> None:
    first = http.get("/sandbox/world").content
    assert http.get("/sandbox/world").content == first
    fresh = World(seed=7, partners=6, members=40, app=sandbox.world.app).to_json()
    assert json.loads(first) == fresh


def test_customer_bc_admin_and_assets() -> None:
    world = World()
    customer = world.bcs[world.customer_bc_id]
    assert customer.name == "Acme Retail Group"
    admin = customer.members[world.accounts[CUSTOMER_ADMIN_EMAIL]]
    assert (admin.user_role, admin.relation_status) == ("ADMIN", BOUND)
    kinds = [world.assets[a].asset_type for a in customer.asset_ids]
    assert kinds.count("ADVERTISER") >= 5
    assert (kinds.count("CATALOG"), kinds.count("PIXEL"), kinds.count("TT_ACCOUNT")) == (1, 1, 1)
    assert world.authenticate(CUSTOMER_ADMIN_EMAIL, "sandbox-pass") == admin.user_id
    assert world.authenticate(CUSTOMER_ADMIN_EMAIL, "wrong") is None


def test_partner_one_has_nothing_shared_and_partner_two_monitor_is_standard() -> None:
    world = World()
    first, second = world.partners[0], world.partners[1]
    assert not first.eligible
    assert all(first.bc_id not in (s.owner_bc_id, s.partner_bc_id) for s in world.shares)
    assert second.monitor_role == "STANDARD"
    assert second.monitor_email == f"monitor@{second.slug}.example"
    assert all(p.monitor_role == "ADMIN" for p in world.partners if p.number != 2)


def test_every_partner_lists_the_customer_and_has_a_bound_monitor() -> None:
    world = World()
    customer = world.bcs[world.customer_bc_id]
    assert customer.partner_ids == [p.bc_id for p in world.partners]
    for info in world.partners:
        bc = world.bcs[info.bc_id]
        assert bc.partner_ids == [world.customer_bc_id]
        monitor = bc.members[str(world.user_id(info.monitor_email))]
        assert (monitor.relation_status, monitor.user_role) == (BOUND, info.monitor_role)
        assert len(bc.members) == 41


def test_assets_are_shared_both_ways_with_assigned_members() -> None:
    world = World()
    directions = {(s.owner_bc_id == world.customer_bc_id) for s in world.shares}
    assert directions == {True, False}
    for share in world.shares:
        if share.partner_bc_id != world.customer_bc_id:
            assignees = world.bcs[share.partner_bc_id].assignments[share.asset_id]
            assert assignees
            assert set(assignees.values()) <= {"ADMIN", "OPERATOR", "ANALYST", "AD_PROMOTE"}


def test_members_cover_roles_statuses_finance_and_odd_names() -> None:
    world = World()
    for info in world.partners:
        members = list(world.bcs[info.bc_id].members.values())
        assert {m.user_role for m in members} == {"ADMIN", "STANDARD"}
        assert {m.relation_status for m in members} == {"BOUND", "PENDING", "REJECTED", "UNBOUND"}
        assert {m.finance_role for m in members} == {"MANAGER", "ANALYST", None}
        assert {m.user_name[0] for m in members if m.user_name} >= {"=", "+", "-", "@"}
        assert {m.user_email.split("@")[1] for m in members} >= {"gmail.com", "outlook.com", "yahoo.com"}
        emails = [m.user_email for m in members]
        assert len(emails) == len(set(emails))
    names = [m.user_name or "" for bc in world.bcs.values() for m in bc.members.values()]
    assert any(not name.isascii() for name in names)


def test_pending_invitees_have_only_an_email() -> None:
    world = World()
    pending = [m for bc in world.bcs.values() for m in bc.members.values() if m.relation_status == PENDING]
    assert pending
    for member in pending:
        assert member.user_id is None
        assert member.user_name is None
        assert "user_id" not in member.wire()
        assert "user_name" not in member.wire()


def test_ids_are_19_digit_strings_beyond_2_pow_53() -> None:
    world = World()
    ids = [m.user_id for bc in world.bcs.values() for m in bc.members.values() if m.user_id]
    ids += list(world.bcs) + list(world.assets)
    assert all(isinstance(i, str) and len(i) == 19 and i.isdigit() and int(i) > 2**53 for i in ids)
    assert len(ids) == len(set(ids))


def test_reset_restores_the_seeded_world() -> None:
    world = World(seed=3, partners=2, members=10)
    before = _dump(world)
    world.add_member(world.customer_bc_id, "someone@new.example")
    world.issue_token(CUSTOMER_ADMIN_EMAIL)
    assert _dump(world) != before
    world.reset()
    assert _dump(world) == before


def test_partners_generate_on_first_use_and_order_does_not_matter() -> None:
    forward, backward = World(seed=5, partners=5, members=25), World(seed=5, partners=5, members=25)
    assert not any(forward.bcs[p.bc_id].loaded for p in forward.partners)
    for info in forward.partners:
        forward.bcs[info.bc_id].load()
    for info in reversed(backward.partners):
        assert backward.user_id(info.monitor_email) is not None
    assert _dump(forward) == _dump(backward)


def test_a_user_id_finds_its_bcs_before_its_partner_is_loaded() -> None:
    world = World(seed=5, partners=3, members=10)
    monitor_id = World(seed=5, partners=3, members=10).user_id(world.partners[2].monitor_email)
    assert not world.bcs[world.partners[2].bc_id].loaded
    assert [bc.bc_id for bc, _ in world.user_bcs(str(monitor_id))] == [world.partners[2].bc_id]
    assert not world.bcs[world.partners[0].bc_id].loaded


def test_personal_email_accounts_log_in() -> None:
    world = World(seed=5, partners=3, members=30)
    email = next(
        m.user_email
        for bc in World(seed=5, partners=3, members=30).bcs.values()
        for m in bc.members.values()
        if m.user_email.endswith("@gmail.com") and m.user_id
    )
    assert world.authenticate(email, "sandbox-pass") is not None
