"""Deterministic generation of the sandbox world from a seed.

Only `random.Random(seed)` drives it (no hash(), set ordering or clock), so one seed gives one world, byte for
byte. Each partner's members come from their own `Random` seeded by the main stream, so a partner's members
do not depend on how many members other partners have. Worlds of 200 partners x 4,000 members are the
target size: the member loop is kept lean (tuples, plain `random()` draws).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
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
SEPARATORS = (".", "_", "")
# (user_name, e-mail, user_role, finance_role, relation_status) of the customer BC.
CUSTOMER_MEMBERS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("Avery Chen", CUSTOMER_ADMIN_EMAIL, ADMIN, "MANAGER", BOUND),
    ("Jordan Okafor", "jordan.okafor@acme.example", ADMIN, None, BOUND),
    ("Mia Lindqvist", "analyst@acme.example", STANDARD, "ANALYST", BOUND),
    ("", "new.hire@acme.example", STANDARD, None, PENDING),
)
# Attribute combinations every partner BC gets at least once (when it has enough members).
COVERAGE: tuple[tuple[str, str | None, str], ...] = (
    (ADMIN, "MANAGER", BOUND), (STANDARD, "ANALYST", BOUND), (STANDARD, None, BOUND),
    (STANDARD, None, PENDING), (ADMIN, "ANALYST", PENDING), (STANDARD, None, REJECTED),
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
    """Generates the whole world for `seed`: the customer BC, then `partners` agency BCs of `members` each."""
    rng = random.Random(seed)
    data = WorldData()
    asset_ids = _Ids(rng, 7_060_000_000_000_000_000)
    bc_ids = _Ids(rng, 7_300_000_000_000_000_000)
    customer = _customer(rng, data, asset_ids)
    agencies = _agency_names(rng, partners)
    taken: set[str] = set(data.accounts)
    for number, agency in enumerate(agencies, start=1):
        bc = _partner_bc(rng, agency, bc_ids.next())
        customer.partner_ids.append(bc.bc_id)
        bc.partner_ids.append(customer.bc_id)
        data.bcs[bc.bc_id] = bc
        monitor = _partner_members(rng, data, bc, number, members, agency[1], taken)
        eligible = _partner_assets(rng, data, bc, number, asset_ids)
        data.partners.append(PartnerInfo(number, bc.bc_id, agency[1], monitor.user_email,
                                         monitor.user_role, eligible))
    return data


def _customer(rng: random.Random, data: WorldData, asset_ids: _Ids) -> BusinessCenter:
    bc = BusinessCenter(bc_id=str(7_000_000_000_000_000_000 + rng.randrange(10**15)), name=CUSTOMER_NAME,
                        company="Acme Retail Group Inc.", currency="USD", registered_area="US",
                        timezone="America/Los_Angeles", type="NORMAL")
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


def _partner_bc(rng: random.Random, agency: tuple[str, str, str, str, str, str], bc_id: str) -> BusinessCenter:
    name, _slug, company, area, currency, tz = agency
    roll = rng.random()
    verification = "VERIFIED" if roll < 0.8 else ("REVIEWING" if roll < 0.9 else "NOT_SUBMITTED")
    return BusinessCenter(bc_id=bc_id, name=name, company=company, currency=currency, registered_area=area,
                          timezone=tz, type="AGENCY", verification_status=verification)


def _partner_members(rng: random.Random, data: WorldData, bc: BusinessCenter, number: int, count: int,
                     slug: str, taken: set[str]) -> Member:
    """Fills the partner BC with `count` members plus its monitor account; returns the monitor."""
    sub = random.Random(rng.getrandbits(64))
    home = f"{slug}.example"
    ids = _Ids(sub, 7_200_000_000_000_000_000 + number * 10**13)
    members = _draw_members(sub, ids, count, home, taken)
    monitor_email = f"monitor@{home}"
    taken.add(monitor_email)
    monitor = Member(ids.next(), MONITOR_NAME, monitor_email, STANDARD if number == 2 else ADMIN, BOUND, None)
    members.insert(sub.randrange(len(members) + 1), monitor)
    directory, accounts = bc.members, data.accounts
    for member in members:
        if member[0] is None:
            directory[member[2]] = member
        else:
            directory[member[0]] = member
            accounts[member[2]] = member[0]
    return monitor


def _draw_members(rng: random.Random, ids: _Ids, count: int, home: str, taken: set[str]) -> list[Member]:
    """`count` random members; the positions of `_forced_slots` get their forced traits (the hot loop)."""
    forced = _forced_slots(rng, count)
    draw, make = rng.random, tuple.__new__
    firsts, lasts, wholes = names.FIRST_NAMES, names.LAST_NAMES, names.WHOLE_NAMES
    n_first, n_last, n_whole = len(firsts), len(lasts), len(wholes)
    members = []
    for position in range(count):
        user_id = ids.next()
        if draw() < 0.04:
            display, handle = wholes[int(draw() * n_whole)]
        else:
            first, last = firsts[int(draw() * n_first)], lasts[int(draw() * n_last)]
            display = f"{first[0]} {last[0]}"
            handle = SEPARATORS[int(draw() * 3)].join((first[1], last[1]))
        domain = home
        if draw() < 0.04:
            domain = names.PERSONAL_DOMAINS[int(draw() * 3)]
        role, finance, status = _roles(draw(), draw(), draw())
        override = forced.get(position)
        if override is not None:
            display, handle, domain, role, finance, status = _apply(
                override, (display, handle, domain, role, finance, status))
        if domain != home:
            handle = f"{handle}{10 + int(draw() * 90)}"
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


def _apply(override: _Override, traits: tuple[str, str, str, str, str | None, str]
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
        email = f"{handle}{number}@{domain}"
        number += 1
    taken.add(email)
    return email


def _partner_assets(rng: random.Random, data: WorldData, bc: BusinessCenter, number: int,
                    asset_ids: _Ids) -> bool:
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
    _assign_partner_members(rng, data, bc)
    return eligible


def _share_customer_assets(rng: random.Random, data: WorldData, customer: BusinessCenter,
                           partner: BusinessCenter) -> None:
    advertisers = [a for a in customer.asset_ids if data.assets[a].asset_type == "ADVERTISER"]
    for asset_id in rng.sample(advertisers, rng.randint(1, 3)):
        data.shares.append(Share(asset_id, customer.bc_id, partner.bc_id, rng.choice(ADVERTISER_ROLES)))
    if rng.random() < 0.4:
        catalog = next(a for a in customer.asset_ids if data.assets[a].asset_type == "CATALOG")
        data.shares.append(Share(catalog, customer.bc_id, partner.bc_id, rng.choice(CATALOG_ROLES)))


def _assign_partner_members(rng: random.Random, data: WorldData, bc: BusinessCenter) -> None:
    """Gives some BOUND members of the partner BC a role on each asset it owns or was shared."""
    bound = [key for key, member in bc.members.items() if member.relation_status == BOUND]
    received = [s.asset_id for s in data.shares if s.partner_bc_id == bc.bc_id]
    for asset_id in bc.asset_ids + received:
        roles = CATALOG_ROLES if data.assets[asset_id].asset_type == "CATALOG" else ADVERTISER_ROLES
        chosen = rng.sample(bound, min(len(bound), rng.randint(2, 6)))
        bc.assignments[asset_id] = {key: rng.choice(roles) for key in chosen}
