"""Deterministic generation of the sandbox world from a seed.

Only `random.Random(seed)` drives it (no hash(), set ordering or clock), so one seed gives one world, byte for
byte. Each partner's members come from their own `Random` seeded by the main stream and are generated when
the partner BC is first used, so start-up does not grow with `--members`, and the result never depends on
the order partners are used in. Worlds of 200 partners x 4,000 members are the target size: the member
loop is kept lean (tuples, shared name strings, plain `random()` draws).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from sandbox import names
from sandbox.models import (
    ADMIN,
    ADVERTISER_ROLES,
    BOUND,
    CATALOG_ROLES,
    PENDING,
    REJECTED,
    STANDARD,
    UNBOUND,
    Asset,
    BusinessCenter,
    Member,
    PartnerInfo,
    Share,
)

CUSTOMER_NAME = "Acme Retail Group"
CUSTOMER_ADMIN_EMAIL = "admin@acme.example"
MONITOR_NAME = "PartnerWatch Monitor"
PARTNER_USER_BASE = 7_200_000_000_000_000_000  # partner n's generated user_ids: BASE + n * SPAN + ...
PARTNER_USER_SPAN = 10**13
SEPARATORS = (".", "_", "")
_NAME_POOL: list[tuple[str, str]] = []
# (user_name, e-mail, user_role, finance_role, relation_status) of the customer BC.
CUSTOMER_MEMBERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("Avery Chen", CUSTOMER_ADMIN_EMAIL, ADMIN, "MANAGER", BOUND),
    ("Jordan Okafor", "jordan.okafor@acme.example", ADMIN, None, BOUND),
    ("Mia Lindqvist", "analyst@acme.example", STANDARD, "ANALYST", BOUND),
    ("", "new.hire@acme.example", STANDARD, None, PENDING),
)
# Attribute combinations every partner BC gets at least once (when it has enough members).
COVERAGE: tuple[tuple[str, str | None, str], ...] = (
    (ADMIN, "MANAGER", BOUND),
    (STANDARD, "ANALYST", BOUND),
    (STANDARD, None, BOUND),
    (STANDARD, None, PENDING),
    (ADMIN, "ANALYST", PENDING),
    (STANDARD, None, REJECTED),
    (STANDARD, "MANAGER", UNBOUND),
)


@dataclass
class WorldData:
    """Everything generated: BCs (customer first), assets, shares, accounts (e-mail → user_id), partners."""

    customer_bc_id: str = ""
    bcs: dict[str, BusinessCenter] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    shares: list[Share] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)
    partners: list[PartnerInfo] = field(default_factory=list)


class _Override(NamedTuple):
    role: str | None = None
    finance_role: str | None = None
    status: str | None = None
    name: tuple[str, str] | None = None
    domain: str | None = None


class _Ids:
    """Increasing 19-digit numeric ID strings (all beyond 2^53, like real TikTok IDs)."""

    def __init__(self, rng: random.Random, base: int) -> None:
        self._rng = rng
        self._value = base

    def next(self) -> str:
        self._value += int(self._rng.random() * 999_983) + 1
        return str(self._value)


def build_world(seed: int, partners: int, members: int) -> WorldData:
    """Generates the world for `seed`: the customer BC, then `partners` agency BCs of `members` each.

    Everything but the partners' members and asset assignments is made here; those are made by each partner
    BC's loader on first use, from a seed drawn here, so the result does not depend on when they are made.
    """
    rng = random.Random(seed)
    data = WorldData()
    asset_ids = _Ids(rng, 7_060_000_000_000_000_000)
    bc_ids = _Ids(rng, 7_300_000_000_000_000_000)
    customer = _customer(rng, data, asset_ids)
    for number, agency in enumerate(_agency_names(rng, partners), start=1):
        loader = partial(_load_partner, data, number, rng.getrandbits(64), members, f"{agency[1]}.example")
        bc = _partner_bc(rng, agency, bc_ids.next(), loader)
        customer.partner_ids.append(bc.bc_id)
        bc.partner_ids.append(customer.bc_id)
        data.bcs[bc.bc_id] = bc
        eligible = _partner_assets(rng, data, bc, number, asset_ids)
        monitor_role = STANDARD if number == 2 else ADMIN
        data.partners.append(
            PartnerInfo(number, bc.bc_id, agency[1], f"monitor@{agency[1]}.example", monitor_role, eligible)
        )
    return data


def home_partner_number(user_id: str) -> int | None:
    """The partner number whose generated members have this user_id range (None for other IDs)."""
    if not user_id.isdigit():
        return None
    number = (int(user_id) - PARTNER_USER_BASE) // PARTNER_USER_SPAN
    return number if number >= 1 and int(user_id) >= PARTNER_USER_BASE else None


def _customer(rng: random.Random, data: WorldData, asset_ids: _Ids) -> BusinessCenter:
    bc = BusinessCenter(
        bc_id=str(7_000_000_000_000_000_000 + rng.randrange(10**15)),
        name=CUSTOMER_NAME,
        company="Acme Retail Group Inc.",
        currency="USD",
        registered_area="US",
        timezone="America/Los_Angeles",
        type="NORMAL",
    )
    data.customer_bc_id = bc.bc_id
    data.bcs[bc.bc_id] = bc
    ids = _Ids(rng, 7_010_000_000_000_000_000)
    for name, email, role, finance, status in CUSTOMER_MEMBERS:
        user_id = ids.next()
        if status == PENDING:
            bc.add_member(Member(None, None, email, role, status, finance))
            continue
        bc.add_member(Member(user_id, name, email, role, status, finance))
        data.accounts[email] = user_id
    _customer_assets(rng, data, bc, asset_ids)
    return bc


def _customer_assets(rng: random.Random, data: WorldData, bc: BusinessCenter, asset_ids: _Ids) -> None:
    count = 5 + rng.randint(0, 3)
    for index, name in enumerate(names.CUSTOMER_ADVERTISERS[:count]):
        status = "STATUS_DISABLE" if index == count - 1 else "STATUS_ENABLE"
        kind = "RESERVATION" if index == 2 else "AUCTION"
        _own(data, bc, Asset(asset_ids.next(), name, "ADVERTISER", bc.bc_id, status, kind))
    _own(data, bc, Asset(asset_ids.next(), "Acme Master Catalog", "CATALOG", bc.bc_id))
    pixel_code = "C" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(19))
    _own(data, bc, Asset(asset_ids.next(), "Acme Web Pixel", "PIXEL", bc.bc_id, pixel_code=pixel_code))
    _own(data, bc, Asset(asset_ids.next(), "Acme Retail (@acmeretail)", "TT_ACCOUNT", bc.bc_id))
    analyst = data.accounts["analyst@acme.example"]
    advertisers = [a for a in bc.asset_ids if data.assets[a].asset_type == "ADVERTISER"]
    for asset_id in rng.sample(advertisers, 2):
        bc.assignments.setdefault(asset_id, {})[analyst] = "ANALYST"


def _own(data: WorldData, bc: BusinessCenter, asset: Asset) -> None:
    data.assets[asset.asset_id] = asset
    bc.asset_ids.append(asset.asset_id)


def _agency_names(rng: random.Random, count: int) -> list[tuple[str, str, str, str, str, str]]:
    """(name, slug, company, area, currency, timezone) for `count` agencies, slugs unique."""
    agencies = list(names.AGENCIES)
    rng.shuffle(agencies)
    chosen = [(n, s, f"{n} {suffix}", a, c, t) for n, s, suffix, a, c, t in agencies[:count]]
    slugs = {agency[1] for agency in chosen}
    while len(chosen) < count:
        stem, kind = rng.choice(names.AGENCY_STEMS), rng.choice(names.AGENCY_KINDS)
        name, slug = f"{stem[0]} {kind[0]}", f"{stem[1]}-{kind[1]}"
        if slug in slugs:
            number = len(chosen) + 1
            name, slug = f"{name} {number}", f"{slug}-{number}"
        slugs.add(slug)
        area, currency, tz = rng.choice(names.REGIONS)
        chosen.append((name, slug, f"{name} {rng.choice(names.COMPANY_SUFFIXES)}", area, currency, tz))
    return chosen


def _partner_bc(
    rng: random.Random,
    agency: tuple[str, str, str, str, str, str],
    bc_id: str,
    loader: Callable[[BusinessCenter], None],
) -> BusinessCenter:
    name, _slug, company, area, currency, tz = agency
    roll = rng.random()
    verification = "VERIFIED" if roll < 0.8 else ("REVIEWING" if roll < 0.9 else "NOT_SUBMITTED")
    return BusinessCenter(
        bc_id=bc_id,
        name=name,
        company=company,
        currency=currency,
        registered_area=area,
        timezone=tz,
        type="AGENCY",
        verification_status=verification,
        loader=loader,
    )


def _load_partner(data: WorldData, number: int, seed: int, count: int, home: str, bc: BusinessCenter) -> None:
    """Loader of partner BC `number`: `count` members plus the monitor account, then asset assignments.

    Runs under the BC's lock, fills `bc._members`/`bc._assignments` directly and registers the accounts.
    E-mails are unique within the partner; personal-domain ones carry the partner number, so they are
    unique across partners whatever order partners load in.
    """
    rng = random.Random(seed)
    ids = _Ids(rng, PARTNER_USER_BASE + number * PARTNER_USER_SPAN)
    monitor_email = f"monitor@{home}"
    members = _draw_members(rng, ids, count, home, {monitor_email}, str(number))
    monitor = Member(ids.next(), MONITOR_NAME, monitor_email, STANDARD if number == 2 else ADMIN, BOUND, None)
    members.insert(rng.randrange(len(members) + 1), monitor)
    directory, accounts = bc._members, data.accounts
    for member in members:
        if member[0] is None:
            directory[member[2]] = member
        else:
            directory[member[0]] = member
            accounts[member[2]] = member[0]
    _assign_partner_members(rng, data, bc)


def _name_pool() -> list[tuple[str, str]]:
    """Every (display name, e-mail handle) of first x last x separator, plus the whole names; shared by all
    members, so a large world keeps one copy of each name string."""
    if not _NAME_POOL:
        _NAME_POOL.extend(
            (f"{first} {last}", sep.join((first_handle, last_handle)))
            for first, first_handle in names.FIRST_NAMES
            for last, last_handle in names.LAST_NAMES
            for sep in SEPARATORS
        )
    return _NAME_POOL


def _draw_members(rng: random.Random, ids: _Ids, count: int, home: str, taken: set[str], tag: str) -> list[Member]:
    """`count` random members; the positions of `_forced_slots` get their forced traits (the hot loop)."""
    forced = _forced_slots(rng, count)
    draw, make = rng.random, tuple.__new__
    pool, wholes, personal = _name_pool(), names.WHOLE_NAMES, names.PERSONAL_DOMAINS
    n_pool, n_whole = len(pool), len(wholes)
    members = []
    for position in range(count):
        user_id = ids.next()
        display, handle = wholes[int(draw() * n_whole)] if draw() < 0.04 else pool[int(draw() * n_pool)]
        domain = personal[int(draw() * 3)] if draw() < 0.04 else home
        role, finance, status = _roles(draw(), draw(), draw())
        if position in forced:
            display, handle, domain, role, finance, status = _apply(
                forced[position], (display, handle, domain, role, finance, status)
            )
        if domain != home:
            handle = f"{handle}{tag}{10 + int(draw() * 90)}"
        email = f"{handle}@{domain}"
        if email in taken:
            email = _unique_email(handle, domain, taken)
        taken.add(email)
        if status == PENDING:
            members.append(make(Member, (None, None, email, role, status, finance)))
        else:
            members.append(make(Member, (user_id, display, email, role, status, finance)))
    return members


def _forced_slots(rng: random.Random, count: int) -> dict[int, _Override]:
    """Positions forced to a COVERAGE combination, a formula-like name (one per leading character) or a
    personal e-mail domain (one per domain)."""
    by_char: dict[str, list[tuple[str, str]]] = {}
    for special in names.SPECIAL_NAMES:
        by_char.setdefault(special[0][0], []).append(special)
    overrides = [_Override(role, fin, status) for role, fin, status in COVERAGE]
    overrides += [_Override(status=BOUND, name=rng.choice(group)) for group in by_char.values()]
    overrides += [_Override(status=BOUND, domain=domain) for domain in names.PERSONAL_DOMAINS]
    positions = rng.sample(range(count), min(count, len(overrides)))
    return dict(zip(positions, overrides, strict=False))


def _apply(
    override: _Override, traits: tuple[str, str, str, str, str | None, str]
) -> tuple[str, str, str, str, str | None, str]:
    display, handle, domain, role, finance, status = traits
    if override.role is not None:
        role, finance = override.role, override.finance_role
    if override.status is not None:
        status = override.status
    if override.name is not None:
        display, handle = override.name
    if override.domain is not None:
        domain = override.domain
    return display, handle, domain, role, finance, status


def _roles(role_roll: float, finance_roll: float, status_roll: float) -> tuple[str, str | None, str]:
    role = ADMIN if role_roll < 0.18 else STANDARD
    finance = "MANAGER" if finance_roll < 0.12 else ("ANALYST" if finance_roll < 0.32 else None)
    if status_roll < 0.78:
        status = BOUND
    elif status_roll < 0.88:
        status = PENDING
    else:
        status = UNBOUND if status_roll < 0.94 else REJECTED
    return role, finance, status


def _unique_email(handle: str, domain: str, taken: set[str]) -> str:
    email = f"{handle}@{domain}"
    number = 2
    while email in taken:
        email = f"{handle}.{number}@{domain}"
        number += 1
    taken.add(email)
    return email


def _partner_assets(rng: random.Random, data: WorldData, bc: BusinessCenter, number: int, asset_ids: _Ids) -> bool:
    """The partner's own advertisers, shares both ways (none for partner 1) and asset assignments."""
    for brand in rng.sample(names.CLIENT_BRANDS, rng.randint(1, 3)):
        status_kind = ("STATUS_ENABLE", "AUCTION")
        _own(data, bc, Asset(asset_ids.next(), f"{bc.name} – {brand}", "ADVERTISER", bc.bc_id, *status_kind))
    eligible = number != 1
    if eligible:
        customer = data.bcs[data.customer_bc_id]
        _share_customer_assets(rng, data, customer, bc)
        if number == 3 or rng.random() < 0.5:
            for asset_id in rng.sample(bc.asset_ids, rng.randint(1, len(bc.asset_ids))):
                data.shares.append(Share(asset_id, bc.bc_id, customer.bc_id, rng.choice(ADVERTISER_ROLES)))
    return eligible


def _share_customer_assets(
    rng: random.Random, data: WorldData, customer: BusinessCenter, partner: BusinessCenter
) -> None:
    advertisers = [a for a in customer.asset_ids if data.assets[a].asset_type == "ADVERTISER"]
    for asset_id in rng.sample(advertisers, rng.randint(1, 3)):
        data.shares.append(Share(asset_id, customer.bc_id, partner.bc_id, rng.choice(ADVERTISER_ROLES)))
    if rng.random() < 0.4:
        catalog = next(a for a in customer.asset_ids if data.assets[a].asset_type == "CATALOG")
        data.shares.append(Share(catalog, customer.bc_id, partner.bc_id, rng.choice(CATALOG_ROLES)))


def _assign_partner_members(rng: random.Random, data: WorldData, bc: BusinessCenter) -> None:
    """Gives some BOUND members of the partner BC a role on each asset it owns or was shared."""
    bound = [key for key, member in bc._members.items() if member.relation_status == BOUND]
    received = [s.asset_id for s in data.shares if s.partner_bc_id == bc.bc_id]
    for asset_id in bc.asset_ids + received:
        roles = CATALOG_ROLES if data.assets[asset_id].asset_type == "CATALOG" else ADVERTISER_ROLES
        chosen = rng.sample(bound, min(len(bound), rng.randint(2, 6)))
        bc._assignments[asset_id] = {key: rng.choice(roles) for key in chosen}
