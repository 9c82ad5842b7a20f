"""What the pages show that changes only when a sync lands (the partner filter's choices, a page of members, the
change log and its chart, the last member sync, the guest users counted per partner and role), computed once per
data version and shared by every session of the process.

Each snapshot is cached under the store (its path and identity) and `changes.data_version`, read first: a sync
or partner list that lands from any process changes the version, so the next rerun computes the snapshot
again, and a click that changes nothing of it reads the cached copy. A snapshot computed just after a write,
under the version read just before it, is newer than its key and replaced at the next rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import streamlit as st

from core.accounts import partners
from core.members import changes, filters, paging
from core.members.filters import MemberFilter
from core.store.database import Store
from ui.components import CHART_NAMES

Version = str  # hashed on every cache lookup: one string, not a tuple of times and digests

# The Changes table's columns, in order (nothing else is sent to the browser).
CHANGE_COLUMNS = ["changed_at", "partner", "member", "user_email", "change", "old_value", "new_value", "task_id"]


def version(store: Store) -> Version:
    """The key of this store's snapshots: which store (its file, if it has one, and the object), and its data
    version."""
    return repr((getattr(store, "path", None), id(store), *changes.data_version(store)))


@st.cache_data(show_spinner=False, max_entries=16)
def _partner_options(_store: Store, key: Version) -> dict[str, str]:
    return filters.partner_options(_store)


def partner_options(store: Store, key: Version | None = None) -> dict[str, str]:
    """Partner BC id → name of every partner with synced members (`filters.partner_options`); `key`, the store's
    `version` when the caller has just read it."""
    return _partner_options(store, version(store) if key is None else key)


@st.cache_data(show_spinner=False, max_entries=16)
def _member_counts(_store: Store, key: Version) -> pd.DataFrame:
    return partners.member_counts(_store)


def member_counts(store: Store) -> pd.DataFrame:
    """The current guest users per partner and TikTok role (`partners.member_counts`: a scan of every member),
    which the Partners table and chart show, at the store's data version."""
    return _member_counts(store, version(store))


@dataclass(frozen=True)
class MemberPage:
    """A page of the filtered members as the Members page shows it: its shown columns (`paging.PAGE_COLUMNS`) as
    an Arrow table, which `st.dataframe` sends as it is, and where the page is among them (`paging.MemberView`)."""

    table: pa.Table
    total: int
    page: int
    pages: int
    offset: int


@st.cache_data(show_spinner=False, max_entries=128)
def _member_page(_store: Store, key: Version, _member_filter: MemberFilter, filter_key: str, page: int) -> MemberPage:
    view = paging.view(_store, _member_filter, page)
    table = pa.Table.from_pandas(view.rows[paging.PAGE_COLUMNS], preserve_index=False)
    return MemberPage(table, view.total, view.page, view.pages, view.offset)


def member_page(store: Store, key: Version, member_filter: MemberFilter, page_number: int) -> MemberPage:
    """A page of the filtered members (`paging.view`) at the store's `version` `key`, framed once for the
    browser: the same filters and page show the same rows to every session until the data version changes (the
    members are the same for every person allowed on the Members page; the filters and page are the whole
    question), so going back to a view (a tab switch, a filter cleared, a colleague's view) reads it again
    instead of querying the members."""
    return _member_page(store, key, member_filter, repr(member_filter), page_number)  # the repr: every field


@st.cache_data(show_spinner=False, max_entries=16)
def _change_log(_store: Store, key: Version, include_baseline: bool, days: int | None) -> pd.DataFrame:
    return changes.changes(_store, include_baseline=include_baseline, days=days)[CHANGE_COLUMNS]


@st.cache_data(show_spinner=False, max_entries=16)
def _timeline_chart(_store: Store, key: Version, include_baseline: bool, days: int | None) -> pd.DataFrame:
    timeline = changes.timeline(_store, include_baseline=include_baseline, days=days)
    return timeline[["sync", "change", "members"]].rename(columns=CHART_NAMES)


@st.cache_data(show_spinner=False, max_entries=16)
def _any_change(_store: Store, key: Version, include_baseline: bool) -> bool:
    return not changes.changes(_store, include_baseline=include_baseline, days=None, limit=1).empty


@st.cache_data(show_spinner=False, max_entries=16)
def _last_sync(_store: Store, key: Version) -> Any:
    return changes.last_sync(_store)


@st.cache_data(show_spinner=False, max_entries=16)
def _window(_store: Store, key: Version, days: int | None) -> Any:
    return changes.window(_store, days)


class ChangesView:
    """The Changes tab's data at one data version over a period (`days` up to the last member sync, None for all
    history, `changes.window_start`): the chart's rows, the log's shown columns, the last sync, the period's
    first instant, and whether an empty period has older changes."""

    def __init__(self, store: Store, *, include_baseline: bool, days: int | None = changes.WINDOW_DAYS) -> None:
        key = version(store)
        self.chart = _timeline_chart(store, key, include_baseline, days)
        self.log = _change_log(store, key, include_baseline, days) if not self.chart.empty else None
        self.last_sync = _last_sync(store, key)
        self.start = _window(store, key, days)
        self.older = self.log is None and days is not None and _any_change(store, key, include_baseline)


def chart_spec() -> dict[str, Any]:
    """The Changes per sync chart (a stacked bar per sync, coloured by change), as Vega-Lite: `st.bar_chart`
    builds and validates the same chart through Altair on every run, which cost more than the rest of the tab."""
    sync, members, change = CHART_NAMES["sync"], CHART_NAMES["members"], CHART_NAMES["change"]
    return {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": sync, "type": "nominal", "sort": None, "title": sync},
            "y": {"field": members, "type": "quantitative", "stack": True, "title": members},
            "color": {"field": change, "type": "nominal", "title": change},
        },
    }
