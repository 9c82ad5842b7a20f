"""What the Members query reads: the rows it reads as `m` (`Source`: the live `members` table, or an access
review's frozen snapshot) and the relations it may add for a column or condition (`Need`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Need(Enum):
    """A relation besides `m` that a column or condition reads: the query adds it only when one does."""

    PARTNER = "partner"  # `p`: the member's partner (`name`, `partner_lower`), joined to every member
    LATEST_SYNC = "latest_sync"  # `p` with its latest member sync: `latest_task_id`, `latest_baseline`
    DOMAINS = "domains"  # `params`: one row, `domains`, the personal e-mail domains (a bound list)


@dataclass(frozen=True)
class Source:
    """The rows the queries read as `m`: the live `members` table, or a table with its columns (an access
    review's frozen snapshot, `core.reviews`).

    `where` (with `params`) is applied before any other condition; `flag_keys` names a column listing the keys
    of the flags each row had when it was frozen (instead of computing them now); `columns` adds or replaces
    columns (name → SQL over `m` alone); `partners`, the relation (`bc_id`, `name`) that partner order and
    partner-name search read. Table, column names and SQL are code constants, never user text.
    """

    table: str = "members"
    where: str = "true"
    params: tuple[object, ...] = ()
    flag_keys: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    partners: str = "partners"


MEMBERS = Source()
