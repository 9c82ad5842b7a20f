"""The Members filter widgets (partner, role, status, flag; search, sort, order), shared by the Members and
Reviews pages so both filter the same way. Keys are `<prefix>_partner`, `<prefix>_role`, ... ."""

from __future__ import annotations

import streamlit as st

from core.members import filters, flags
from core.tiktok import labels


def filter_row(prefix: str, partner_names: dict[str, str], *, extra: int = 0) -> tuple[dict, list]:
    """Partner, role, status and flag choices (MemberFilter fields), and `extra` more columns of the row."""
    cols = st.columns([2, 1, 1, 2, *([2] * extra)])
    chosen = {
        "partners": cols[0].multiselect(
            "Partner",
            list(partner_names),
            format_func=lambda b: partner_names[b],
            key=f"{prefix}_partner",
            placeholder="All partners",
        ),
        "roles": cols[1].multiselect(
            "Role", list(labels.ROLES), format_func=labels.ROLES.get, key=f"{prefix}_role", placeholder="All roles"
        ),
        "statuses": cols[2].multiselect(
            "Status",
            list(labels.STATUSES),
            format_func=labels.STATUSES.get,
            key=f"{prefix}_status",
            placeholder="All statuses",
        ),
        "flags": cols[3].multiselect(
            "Risk flag",
            [f.key for f in flags.FLAGS],
            format_func=lambda k: flags.BY_KEY[k].label,
            key=f"{prefix}_flag",
            placeholder="Any or no flag",
            help=flags.help_text(),
        ),
    }
    return {name: tuple(values) for name, values in chosen.items()}, cols[4:]


def sort_row(prefix: str) -> tuple[dict, object]:
    """Search, sort and order (MemberFilter fields), and the row's last column for the page's own toggle."""
    cols = st.columns([3, 2, 1, 1])
    chosen = {
        "search": cols[0].text_input("Search", key=f"{prefix}_search", placeholder="Name, e-mail, user id or partner"),
        "sort": cols[1].selectbox(
            "Sort by",
            list(filters.SORTS),
            index=list(filters.SORTS).index("partner"),
            key=f"{prefix}_sort",
            format_func=lambda s: s.replace("_", " ").capitalize(),
        ),
        "descending": cols[2].toggle("Descending", key=f"{prefix}_desc"),
    }
    return chosen, cols[3]
