"""Actors of the access review tests."""

from __future__ import annotations

from core.security.roles import ADMIN, ANALYST, GUEST, Actor

ADMIN_A = Actor("admin@partnerwatch.local", ADMIN)
ANALYST_A = Actor("analyst@partnerwatch.local", ANALYST)
OTHER_ANALYST = Actor("other.analyst@partnerwatch.local", ANALYST)
GUEST_A = Actor("partner.admin@agency.example", GUEST)
