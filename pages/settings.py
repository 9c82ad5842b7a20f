"""Settings (admins): the customer BC integration, how PartnerWatch talks to TikTok, workspace users,
the credential vault, the sync policy and the audit log."""

import streamlit as st

from core.accounts import integration, partners
from core.connect import connections, oauth_flows
from ui.alerts_sections import channels_section, rules_section
from ui.components import actor, md_escape, popup_button, when
from ui.feedback import attempt, attempt_then_rerun, flash, show_flashes
from ui.resources import services
from ui.trust_sections import audit_log_section, risk_flags_section, sync_policy_section
from ui.workspace_forms import vault_section, workspace_users_section

svc = services()
me = actor()
if not me.is_admin:
    st.error("Settings are for admins.")
    st.stop()

st.title("Settings")
st.header("Integration", divider="gray")
s = svc.settings
st.markdown(
    f"**Mode:** {'Sandbox (local TikTok emulator)' if s.sandbox else 'Live TikTok'}  \n"
    f"**TikTok app id:** `{s.app_id}`  \n"
    f"**Redirect URL:** `{s.redirect_uri}`  \n"
    f"**API:** `{s.api_base_url}` · **authorization page:** `{s.portal_auth_url}` · **client QPS limit:** {s.qps:g}"
)

current = integration.get(svc.store)
_FLOW_KEY = "pw_customer_flow"


@st.fragment(run_every="1s")
def flow_status(flow_id: str) -> None:
    progress = oauth_flows.progress(oauth_flows.get(svc.store, flow_id))
    if progress.state == oauth_flows.WAITING:
        st.caption(":material/hourglass_top: Waiting for TikTok… finish the authorization in the pop-up.")
        return
    del st.session_state[_FLOW_KEY]
    connected = progress.state == oauth_flows.CONNECTED
    if connected:
        flash("Business Center connected.")
    else:
        flash(md_escape(progress.message), kind="error")
    st.rerun()


show_flashes()

if current and current.bc_id:
    st.success(
        f"Connected to **{current.bc_name}** (BC id {current.bc_id}) by {current.connected_by} "
        f"on {when(current.connected_at)}. Last sync: {when(current.last_sync_at)}. "
        f"Health: {current.health}."
    )
elif current:
    st.warning("Choose the Business Center to monitor: the connected account administers several.")
    options = {c["bc_info"]["bc_id"]: c["bc_info"].get("name", "") for c in integration.candidates(svc.store)}
    bc_id = st.selectbox("Business Center", list(options), format_func=lambda b: f"{options[b]} ({b})")
    if st.button("Use this Business Center", type="primary"):
        attempt_then_rerun(
            lambda: connections.choose_customer_bc(svc, me, bc_id),
            what="Use this Business Center",
            done="Business Center chosen.",
        )
else:
    st.info(
        "No Business Center connected. Connect your company's own TikTok Business Center with an account "
        "that has the **Admin** role on it."
    )

label = "Reconnect your TikTok Business Center" if current else "Connect your TikTok Business Center"
if _FLOW_KEY not in st.session_state:
    if st.button(label, type="primary" if not current else "secondary", key="start_customer_connect"):
        started = attempt(
            lambda: connections.start(svc, me, purpose=connections.CUSTOMER), what="Connect your TikTok Business Center"
        )
        if started is not None:  # on failure the message stays on screen (no rerun)
            st.session_state[_FLOW_KEY] = started
            st.rerun()
else:
    started: connections.Started = st.session_state[_FLOW_KEY]
    popup_button("Open TikTok authorization", started.start_url, key="customer_popup")
    flow_status(started.flow.flow_id)
    if st.button("Cancel", key="cancel_customer_connect"):
        del st.session_state[_FLOW_KEY]
        st.rerun()

if current:
    with st.popover("Disconnect", icon=":material/link_off:"):
        st.write("Revokes PartnerWatch's token at TikTok. Partners and synced guest users are kept.")
        if st.button("Disconnect the Business Center", type="primary", key="disconnect_customer"):
            attempt_then_rerun(
                lambda: connections.disconnect_customer(svc, me),
                what="Disconnect the Business Center",
                done=lambda note: note,
            )

st.header("Workspace users", divider="gray")
workspace_users_section(svc, me, partners.all_current(svc.store))

st.header("Credential vault", divider="gray")
st.caption("Monitor accounts' e-mail, phone and password, encrypted; each reveal is written to the audit log.")
vault_section(svc, me, partners.all_current(svc.store))

st.header("Sync policy", divider="gray")
sync_policy_section(svc, me)

st.header("Alerts", divider="gray")
st.caption("Rules say which sync-time events reach which channels; deliveries are on the Alerts page.")
st.subheader("Rules")
rules_section(svc, me)
st.subheader("Channels")
channels_section(svc, me)

st.header("Risk flags", divider="gray")
risk_flags_section(svc, me)

st.header("Audit log", divider="gray")
audit_log_section(svc, me)
