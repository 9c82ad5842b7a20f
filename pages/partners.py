"""Partners: the customer BC integration, its TikTok Business partners and their statuses."""

import streamlit as st

from core.accounts import integration, partners
from core.connect import connections
from core.members import changes
from core.sync import check_for_updates
from core.tiktok.endpoints import PARTNERS_LIMIT
from ui import snapshots
from ui.components import CHART_NAMES, actor, guest_users_chart_spec, when, when_column
from ui.feedback import attempt, attempt_then_rerun, show_flashes
from ui.nav import page
from ui.resources import services

svc = services()
me = actor()
current = integration.get(svc.store)

title_col, action_col = st.columns([4, 1], vertical_alignment="bottom")
title_col.title("Partners")
st.caption(PARTNERS_LIMIT)
with action_col:
    if st.button(
        "Check for updates",
        type="primary",
        disabled=not me.is_admin,
        key="check_all",
        help="Sync the partner list and every onboarded partner"
        if me.is_admin
        else "Only admins can run Check for updates",
    ):
        task_id = attempt(lambda: check_for_updates.request(svc, actor=me), what="Check for updates")
        if task_id is not None:
            st.toast(f"Check for updates started (task #{task_id}). Follow it on the Automation page.")

if current is None or not current.bc_id:
    st.info(
        "Connect your company's TikTok Business Center to list the partners that share assets with it.",
        icon=":material/link:",
    )
    if me.is_admin:
        st.page_link(
            page("settings"), label="Connect your TikTok Business Center in Settings", icon=":material/arrow_forward:"
        )
else:
    healthy = current.health == integration.HEALTHY
    with st.container(border=True):
        st.markdown(
            f":material/corporate_fare: **{current.bc_name or 'Business Center'}** · BC id `{current.bc_id}` · "
            f"last sync {when(current.last_sync_at)} · "
            + (f":green-badge[{current.health}]" if healthy else f":red-badge[{current.health or 'Unknown'}]")
        )
    if current.health_detail:
        st.warning(current.health_detail)

_DISCONNECT = "pw_disconnect_partner"  # the partner whose Disconnect token awaits confirmation


def _ask_disconnect(bc_id: str) -> None:
    st.session_state[_DISCONNECT] = bc_id


def _forget_disconnect() -> None:
    st.session_state.pop(_DISCONNECT, None)


@st.dialog("Disconnect token", on_dismiss=_forget_disconnect)
def _confirm_disconnect(bc_id: str, name: str) -> None:
    st.write(
        f"Revoke PartnerWatch's token for **{name}** at TikTok? Synced history is kept and its guest users "
        "are marked as not current. You can connect the partner again from the Connect page."
    )
    if st.button("Disconnect token", type="primary", key="disconnect_confirm"):
        _forget_disconnect()
        attempt_then_rerun(
            lambda: connections.disconnect_partner(svc, me, bc_id), what="Disconnect token", done=lambda note: note
        )


def reasons(table) -> None:
    """Each partner's last error in full (a grid cell cuts long text off); a safeguard halt says how to go on."""
    troubled = table[table["last_error"].notna() & (table["last_error"] != "")]
    if troubled.empty:
        return
    with st.expander(f"Why {len(troubled)} partner(s) need attention", icon=":material/report:", expanded=True):
        for row in troubled.itertuples():
            show = st.info if row.status == partners.HALTED_SAFEGUARD else st.warning
            show(f"**{row.name}** · {row.status}: {row.last_error}")


show_flashes()

(tab,) = st.tabs(["TikTok Business Partners"])
with tab:
    guest_counts = snapshots.member_counts(svc.store)  # counted once per data version, for every session
    table = partners.table(svc.store, guest_counts)
    st.info(
        "If your partner exists in your TikTok Business Center but is not displayed here, run "
        "**Check for updates** to sync and import it.",
        icon=":material/info:",
    )
    if table.empty:
        st.write("No partners yet.")
    else:
        counts = table["status"].value_counts()
        st.markdown(
            f"**{len(table)} partners:** "
            + " · ".join(f"{counts[status]} {status}" for status in partners.STATUSES if status in counts)
        )
        st.caption(f":material/group: Guest users: {changes.summary_line(svc.store)}")
        st.dataframe(
            table.assign(last_sync=when_column(table["last_sync_at"])),
            hide_index=True,
            width="stretch",
            column_order=[
                "name",
                "bc_id",
                "assets_shared_with_partner",
                "assets_shared_by_partner",
                "status",
                "guest_users",
                "admins",
                "last_sync",
                "last_error",
            ],
            column_config={
                "name": st.column_config.TextColumn("Partner"),
                "bc_id": st.column_config.TextColumn("Partner BC id"),
                "assets_shared_with_partner": st.column_config.NumberColumn(
                    "Assets shared with partner", help="Your assets the partner can use"
                ),
                "assets_shared_by_partner": st.column_config.NumberColumn(
                    "Assets shared by partner", help="The partner's assets shared with you"
                ),
                "status": st.column_config.TextColumn("Status"),
                "guest_users": st.column_config.NumberColumn("Guest users"),
                "admins": st.column_config.NumberColumn("Admins"),
                "last_sync": st.column_config.TextColumn("Last sync"),
                "last_error": st.column_config.TextColumn("Last error", help="In full under the table"),
            },
            key="partners_table",
        )
        reasons(table)
        names = dict(zip(table["bc_id"], table["name"], strict=True))
        chosen = st.selectbox("Partner", list(names), format_func=lambda b: f"{names[b]} ({b})", key="partner_choice")
        with st.popover("More options", icon=":material/more_vert:"):
            if st.button(
                "Connect", key="connect_one", disabled=not me.is_admin, help="Open the Connect wizard for this partner"
            ):
                st.switch_page(page("connect"), query_params={"partner": chosen})
            if st.button("Check for updates", key="check_one", disabled=not me.is_admin):
                task_id = attempt(
                    lambda: check_for_updates.request(svc, actor=me, partner_bc_id=chosen), what="Check for updates"
                )
                if task_id is not None:
                    st.toast(f"Check for updates for {names[chosen]} started (task #{task_id}).")
            if me.is_admin:
                st.button(
                    "Disconnect token",
                    key="disconnect_one",
                    on_click=_ask_disconnect,
                    args=(chosen,),
                    help="Revoke the partner's token at TikTok; synced history is kept",
                )
        if st.session_state.get(_DISCONNECT) in names:
            _confirm_disconnect(st.session_state[_DISCONNECT], names[st.session_state[_DISCONNECT]])

    st.subheader("Guest users per partner")
    by_role = partners.members_by_role(svc.store, guest_counts)
    if by_role.empty:
        st.caption("This chart fills in once partners are onboarded and their guest users are synced.")
    else:
        chart = by_role.rename(columns=CHART_NAMES)
        st.vega_lite_chart(chart, guest_users_chart_spec())  # st.bar_chart's chart, without Altair
