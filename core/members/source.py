"""What the Members query reads besides the members' rows `m`: the relations a column or condition may need."""

from __future__ import annotations

from enum import Enum


class Need(Enum):
    """A relation besides `m` that a column or condition reads: the query adds it only when one does."""

    PARTNER = "partner"  # `p`: the member's partner (`name`, `partner_lower`), joined to every member
    LATEST_SYNC = "latest_sync"  # `p` with its latest member sync: `latest_task_id`, `latest_baseline`
    DOMAINS = "domains"  # `params`: one row, `domains`, the personal e-mail domains (a bound list)
