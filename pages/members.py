"""Members: User Overview → TikTok Business guest users (filtered, sorted and paged in DuckDB) and Changes."""

import streamlit as st

from core.errors import InvalidInput
from core.members import changes, export, filters, flags
from core.members.filters import MemberFilter
from core.tiktok.endpoints import MEMBERS_LIMIT
from ui import snapshots
from ui.components import actor, keep_state, when
from ui.member_filters import filter_row, sort_row
from ui.resources import services

svc = services()
me = actor()
# The guest users' widgets, whose values outlive a visit to the Changes tab
GUEST_WIDGETS = tuple(f"members_{name}" for name in ("partner", "role", "status", "flag", "search", "sort", "desc"))
GUEST_WIDGETS += ("members_removed", "members_page")
_EXPORT = "pw_export_link"  # (filters, download URL) minted by the last click, for those filters only


def _mint(member_filter: MemberFilter) -> None:
    token = export.mint_token(svc.store, me, member_filter)
    st.session_state[_EXPORT] = (member_filter, export.download_url(token))


def download_link(col: st.delta_generator.DeltaGenerator, member_filter: MemberFilter) -> None:
    """Download CSV mints a single-use export link on click (never while the page merely renders)."""
    ready = st.session_state.get(_EXPORT)
    if ready is not None and ready[0] == member_filter:
        col.link_button(
            "Save CSV",
            ready[1],
            icon=":material/download:",
            type="primary",
            help="Exactly the filtered rows, as CSV (the link works once, for 10 minutes)",
        )
        return
    col.button(
        "Download CSV",
        icon=":material/download:",
        key="members_export",
        on_click=_mint,
        args=(member_filter,),
        help="Prepare a download of exactly the filtered rows, as CSV",
    )


def _clear_task() -> None:
    st.query_params.pop("task", None)
    st.session_state.pop("members_task_seen", None)
    st.session_state["members_removed"] = False


def task_from_link() -> int | None:
    """The sync task of a `/members?task=N` link (an alert digest's): its changed members only, removed ones
    shown too (a removal is one of the changes) until the person turns that off."""
    try:
        task_id = filters.task_number(st.query_params.get("task"))
    except InvalidInput:
        st.warning("The link's task is not a task number: showing every guest user.")
        return None
    if task_id is not None and st.session_state.get("members_task_seen") != task_id:
        st.session_state["members_task_seen"] = task_id
        st.session_state["members_removed"] = True
    if task_id is not None:
        chip, note = st.columns([1, 3], vertical_alignment="center")
        chip.button(
            f"Changes of task #{task_id}",
            icon=":material/close:",
            key="members_task_clear",
            on_click=_clear_task,
            help="Show every guest user again",
        )
        note.caption(f"Only the guest users that Check for updates #{task_id} added, changed or removed.")
    return task_id


def _page_number(member_filter: MemberFilter) -> int:
    """The page to show: page 1 for new filters, else the pager's."""
    if st.session_state.get("members_filter") != member_filter:
        st.session_state["members_filter"] = member_filter
        return 1
    return st.session_state.get("members_page", 1)


@st.fragment(key="members_guest_users")
def guest_users() -> None:
    """Filters, table and pager: a change of any of them reruns only this (the shell and the header stay)."""
    task_id = task_from_link()
    key = snapshots.version(svc.store)
    partner_names = snapshots.partner_options(svc.store, key)
    chosen, _ = filter_row("members", partner_names)
    ordered, last = sort_row("members")
    include_removed = last.toggle(
        "Show removed", key="members_removed", help="Also list guest users who left the partner's Business Center"
    )
    member_filter = MemberFilter(**chosen, **ordered, include_removed=include_removed, task_id=task_id)
    shown = snapshots.member_page(svc.store, key, member_filter, _page_number(member_filter))
    total, pages, offset, rows = shown.total, shown.pages, shown.offset, shown.table
    # Assigned, not popped, when the shown page differs from the pager's (new filters, or rows removed meanwhile
    # so the view clamped it): only an assigned value reaches the browser's pager; a popped key left it on the old
    # page while the rows showed page 1.
    if st.session_state.get("members_page", 1) != shown.page:
        st.session_state["members_page"] = shown.page

    summary_col, download_col = st.columns([4, 1], vertical_alignment="bottom")
    if total:
        summary_col.caption(f"Guest users {offset + 1}–{offset + rows.num_rows} of {total}")
        download_link(download_col, member_filter)
    else:
        summary_col.info("No guest users match. Onboard partners on the Partners page and run Check for updates.")

    st.dataframe(
        rows,  # only the shown columns go to the browser, framed once per view (ui/snapshots.py)
        hide_index=True,
        width="stretch",
        height="content",  # the whole page of rows, no scrolling inside the grid
        column_config=_MEMBER_COLUMNS,
        key="members_table",
    )
    st.pagination(pages, key="members_page")


_MEMBER_COLUMNS = {
    "member": st.column_config.TextColumn("Account member"),
    "user_email": st.column_config.TextColumn("Email"),
    "partner": st.column_config.TextColumn("Partner"),
    "role": st.column_config.TextColumn("TikTok role"),
    "finance_role": st.column_config.TextColumn("Finance role"),
    "status": st.column_config.TextColumn("Membership status"),
    "assets": st.column_config.TextColumn(
        "Your assets reached",
        help="Your assets shared with the partner that this member can use, with the role TikTok reports",
    ),
    "flags": st.column_config.ListColumn("Risk flags", help=flags.help_text()),
    "first_seen": st.column_config.DatetimeColumn("First seen", format="YYYY-MM-DD HH:mm z"),
    "last_seen": st.column_config.DatetimeColumn("Last seen", format="YYYY-MM-DD HH:mm z"),
    "removed_at": st.column_config.DatetimeColumn("Removed at", format="YYYY-MM-DD HH:mm z"),
}
_CHANGE_COLUMNS = {
    "changed_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm z"),
    "partner": "Partner",
    "member": "Account member",
    "user_email": "Email",
    "change": "Change",
    "old_value": "From",
    "new_value": "To",
    "task_id": st.column_config.NumberColumn("Sync task"),
}


def _window_label(days: int | None) -> str:
    return "All history" if days is None else f"Last {days} days"


@st.fragment(key="members_changes")
def changes_view() -> None:
    """The change log and its chart over the period picked, computed once per data version (ui/snapshots.py)."""
    window_col, baseline_col = st.columns([1, 3], vertical_alignment="bottom")
    window_index = window_col.selectbox(  # by index: the option "All history" is None, a selectbox's "no choice"
        "Period",
        range(len(changes.WINDOWS)),
        index=changes.WINDOWS.index(changes.WINDOW_DAYS),
        format_func=lambda i: _window_label(changes.WINDOWS[i]),
        key="changes_window",
        help="The days up to the last member sync whose changes are shown",
    )
    days = changes.WINDOWS[window_index]
    include_baseline = baseline_col.toggle(
        "Include first syncs", key="changes_baseline", help="A partner's first sync lists every member as added"
    )
    view = snapshots.ChangesView(svc.store, include_baseline=include_baseline, days=days)
    if view.start is not None:
        st.caption(f"Changes since {when(view.start)}: the {_window_label(days).lower()} up to the last member sync.")
    if view.log is None and view.older:
        st.info("No guest user changes in this period: pick a longer one to see older changes.")
    elif view.log is None:
        st.info("No changes yet: they appear after a partner's second sync.")
    else:
        st.subheader("Changes per sync")
        st.vega_lite_chart(view.chart, snapshots.chart_spec(), width="stretch")
        st.dataframe(view.log, hide_index=True, width="stretch", column_config=_CHANGE_COLUMNS, key="changes_table")
    if view.last_sync is not None:
        st.caption(f"Last member sync: {when(view.last_sync)}")


st.title("Members")
st.header("User Overview", divider="gray")
st.caption(MEMBERS_LIMIT)
# The tabs track which one is open (a switch reruns the page), so only the open tab's body runs.
guests_tab, changes_tab = st.tabs(["TikTok Business guest users", "Changes"], key="members_tab", on_change="rerun")
keep_state("members_guests", bool(guests_tab.open), GUEST_WIDGETS)
keep_state("members_changes", bool(changes_tab.open), ("changes_window", "changes_baseline"))
if guests_tab.open:
    with guests_tab:
        guest_users()
if changes_tab.open:
    with changes_tab:
        changes_view()
