"""Risk flags on guest users: what each one means, how it is computed in SQL, and the personal domains.

A flag is a boolean column of the Members query (`core.members.columns`), so it can be filtered and sorted on
the server. Its SQL condition reads the member's row (`{m}`: members, with what the member sync writes besides
TikTok's fields: the reach on your shared assets `asset_admin` and the lower-cased `email_domain`) and the
relations it declares in `needs` (`core.members.source.Need`): `p` (the partner, with its latest member sync:
`latest_task_id`, `latest_baseline`) and `params` (one row: `domains`, the personal e-mail domains).

The personal-domain list lives in `settings_kv` under `flags.personal_domains` (comma or newline
separated); without it `DEFAULT_PERSONAL_DOMAINS` applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidInput
from core.members.source import Need
from core.security import audit
from core.security.roles import Actor, require_admin
from core.store import settings
from core.store.cursor import Cursor
from core.store.database import Store

PERSONAL_DOMAINS_KEY = "flags.personal_domains"
DEFAULT_PERSONAL_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "zoho.com",
    "tutanota.com",
    "fastmail.com",
)
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")


@dataclass(frozen=True)
class Flag:
    key: str
    label: str
    help: str
    template: str  # SQL over the member's row `{m}` and the relations of `needs`
    needs: frozenset[Need] = frozenset()
    # the same condition over a row `{c}` of PostgreSQL's `member_counts` (migrations 017 and 018: members counted
    # per the columns this reads), with the same `needs`; None when those counts are not kept per what it reads
    counted: str | None = None

    def condition(self, alias: str = "m") -> str:
        """The SQL condition over the member's row `alias`."""
        return self.template.format(m=alias)

    def count_condition(self, alias: str = "c") -> str | None:
        """The condition over a `member_counts` row `alias` (PostgreSQL), or None when it cannot be told there."""
        return None if self.counted is None else self.counted.format(c=alias)


FLAGS = (
    Flag(
        "partner_admin",
        "Partner BC admin",
        "Admin in the partner's Business Center: can invite people and pass your shared assets on.",
        "{m}.user_role = 'ADMIN'",
        counted="{c}.user_role = 'ADMIN'",
    ),
    Flag(
        "finance_manager",
        "Finance manager",
        "Finance manager in the partner's Business Center: can manage payment and billing.",
        "{m}.finance_role = 'MANAGER'",
        counted="{c}.finance_manager",
    ),
    Flag(
        "personal_email",
        "Personal e-mail",
        "The e-mail domain is a personal mailbox provider (gmail.com and the like, see Settings): the "
        "partner company does not control this account.",
        "{m}.email_domain IN (SELECT unnest(domains) FROM params)",
        frozenset({Need.DOMAINS}),
        counted="{c}.email_domain IN (SELECT unnest(domains) FROM params)",
    ),
    Flag(
        "invitation_pending",
        "Invitation pending",
        "Invited but not joined yet: whoever reads that mailbox can still accept the invitation.",
        "{m}.relation_status = 'PENDING'",
        counted="{c}.relation_status = 'PENDING'",
    ),
    Flag(
        "new_member",
        "New since last sync",
        "Added by the partner's latest sync (a partner's first sync adds no one as new).",
        "{m}.removed_at IS NULL AND {m}.added_task_id = p.latest_task_id AND NOT p.latest_baseline",
        frozenset({Need.LATEST_SYNC}),
    ),
    Flag(
        "asset_admin",
        "Admin on your asset",
        "Reaches at least one of the assets you share with this partner with an admin role.",
        "coalesce({m}.asset_admin, false)",
        counted="{c}.asset_admin",
    ),
)
BY_KEY = {flag.key: flag for flag in FLAGS}
BY_LABEL = {flag.label: flag for flag in FLAGS}
# The flags that read only the member's own row. The sync stores how many of them each member has
# (`members.row_flag_count`, migration 010), so sorting by flag count does not evaluate them on every member.
ROW_FLAGS = ("partner_admin", "finance_manager", "invitation_pending", "asset_admin")


def row_flag_count_sql(alias: str) -> str:
    """SQL counting a member's row flags, over `alias` (a members row)."""
    conditions = (BY_KEY[key].condition(alias) for key in ROW_FLAGS)
    return " + ".join(f"coalesce(({condition}), false)::INTEGER" for condition in conditions)


def column(flag: Flag) -> str:
    """The boolean column name of a flag in the Members query."""
    return f"flag_{flag.key}"


def help_text() -> str:
    """One line per flag, for the table's column help."""
    return "\n".join(f"- **{flag.label}**: {flag.help}" for flag in FLAGS)


def parse_domains(text: str) -> list[str]:
    """Domains from comma/newline/space separated text, lower-cased, `@` stripped; ValueError on a bad one."""
    domains: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        domain = raw.strip().lstrip("@").lower()
        if not domain:
            continue
        if not _DOMAIN.fullmatch(domain):
            raise InvalidInput(f"{raw!r} is not a domain name (for example gmail.com)")
        if domain not in domains:
            domains.append(domain)
    return domains


def personal_domains(store: Store, cur: Cursor | None = None) -> list[str]:
    """The configured personal e-mail domains, or the defaults (read through `cur` when given)."""
    if cur is None:
        with store.read() as cur:
            return personal_domains(store, cur)
    value = settings.get(cur, PERSONAL_DOMAINS_KEY)
    return list(DEFAULT_PERSONAL_DOMAINS) if value is None else parse_domains(value)


def set_personal_domains(store: Store, actor: Actor, text: str) -> list[str]:
    """Replace the personal-domain list (admins; audited); returns the stored list."""
    require_admin(actor, "change the personal e-mail domains")
    domains = parse_domains(text)
    with store.write() as cur:
        settings.put(cur, PERSONAL_DOMAINS_KEY, ",".join(domains), by=actor.email)
        audit.record(
            store,
            actor=actor.email,
            action="settings.personal_domains",
            target=PERSONAL_DOMAINS_KEY,
            outcome="ok",
            detail=f"{len(domains)} domains",
        )
    return domains
