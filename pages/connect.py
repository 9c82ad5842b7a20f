"""Connect: the hint-guided wizard that onboards a partner BC through its monitor account.

Steps (product.md §1 Connect): 1 Choose partner, 2 Requirements (checked live), 3 the dialog
"Connect your partner token" → Get started, 4 "Grant access to the PartnerWatch app" → Next opens TikTok
in a pop-up with a fresh single-use state, 5 the outcome, noticed by a 1-second polling fragment.
"""

from __future__ import annotations

import streamlit as st

from core.accounts import integration, partners
from core.connect import connections, oauth_flows, vault, workspace
from core.security.roles import GUEST
from ui.components import actor, md_escape, popup_button, when
from ui.feedback import problem
from ui.nav import page
from ui.resources import services
from ui.workspace_forms import forget_revealed, invite_guest_form, reveal_block, vault_add_form

HINT_NOT_ELIGIBLE = (
    "**IMPORTANT:** You can only add a native partner in PartnerWatch if you have shared at least "
    "one asset with a partner in your paid social app or vice versa."
)
HINT_GUEST_USER = (
    "**IMPORTANT:** For security purposes, PartnerWatch recommends that you invite the admin who will "
    "create the monitor account as a **Guest User** of your workspace. That way, they can securely "
    "share the credentials with you via a PartnerWatch account."
)
HINT_ISOLATE = (
    "**NOTE:** PartnerWatch recommends your partner isolate your shared assets to avoid syncing and "
    "importing information from other organizations or customers."
)
HINT_DEDICATED = (
    "**NOTE:** PartnerWatch recommends creating a dedicated account in TikTok for Business (not "
    "assigned to a specific user) to monitor the partner's business center from PartnerWatch. "
    "Preferably, set it up with a PartnerWatch-managed email address and phone number."
)
HINT_MONITOR_SETUP = (
    "**NOTE:** Preferably, set this account up with a PartnerWatch-managed email address and phone "
    "number, as well as a secure password provided by your partner."
)

_FLOW = "pw_connect_flow"  # connections.Started of the attempt in progress
_STEP = "pw_connect_step"  # (partner bc_id, "dialog" | "grant")
_RESULT = "pw_connect_result"  # (partner bc_id, ok, message)

svc = services()
me = actor()
st.title("Connect a partner")
st.caption(
    "Connect a TikTok for Business native partner through its monitor account to see the partner's users "
    "with shared access to your assets. PartnerWatch's app only reads the partner's Business Center."
)
if not me.is_admin:
    st.error("Only admins can connect partners.")
    st.stop()


def _pick_partner(options: list[partners.Partner]) -> partners.Partner | None:
    by_id = {p.bc_id: p for p in options}
    wanted = st.query_params.get("partner")  # Partners → More options → Connect, or a shared link
    if wanted in by_id:
        st.session_state["pw_connect_partner"] = wanted
    chosen = st.selectbox(
        "Partner",
        list(by_id),
        key="pw_connect_partner",
        index=None,
        placeholder="Choose the partner to connect",
        on_change=_keep_in_url,
        format_func=lambda b: f"{by_id[b].name} ({b}) · {by_id[b].status}",
    )
    return by_id.get(chosen)


def _keep_in_url() -> None:
    """The URL names the chosen partner, so the link can be shared and a later deep link wins."""
    chosen = st.session_state.get("pw_connect_partner")
    if chosen:
        st.query_params["partner"] = chosen
    else:
        st.query_params.pop("partner", None)


def _status_notice(partner: partners.Partner) -> None:
    status = partner.status
    if status == partners.NOT_ELIGIBLE:
        st.error(HINT_NOT_ELIGIBLE, icon=":material/error:")
    elif status == partners.RECONNECT_REQUIRED:
        st.warning(
            f"TikTok rejected {partner.name}'s token ({partner.last_error or 'token revoked or expired'}). "
            "Reconnect it with the monitor account: follow the steps below.",
            icon=":material/sync_problem:",
        )
    elif status == partners.ONBOARDED:
        st.success(f"{partner.name} is onboarded. You can reconnect it with another monitor account below.")
    elif status == partners.DISCONNECTED:
        st.info(f"{partner.name}'s token was disconnected. Connect it again below; its synced history is kept.")


def _requirement(met: bool | None, label: str, detail: str = "") -> None:
    icon = (
        ":green[:material/check_circle:]"
        if met
        else (":red[:material/cancel:]" if met is False else ":gray[:material/radio_button_unchecked:]")
    )
    st.markdown(f"{icon} {label}")
    if detail:
        st.caption(detail)


def _requirements(partner: partners.Partner) -> bool:
    """Render the checklist; True when the hard requirements (integration, eligibility) are met."""
    current = integration.get(svc.store)
    connected = bool(current and current.bc_id)
    _requirement(
        connected,
        "A TikTok Business Center integration in PartnerWatch",
        f"Connected: {current.bc_name} ({current.bc_id})." if connected else "Not connected yet.",
    )
    if not connected:
        st.page_link(
            page("settings"), label="Connect your TikTok Business Center in Settings", icon=":material/arrow_forward:"
        )
    _requirement(
        partner.eligible,
        "A partner in TikTok for Business with shared access to your assets",
        f"{partner.assets_shared_with_partner} asset(s) shared with {partner.name}, "
        f"{partner.assets_shared_by_partner} shared by {partner.name}.",
    )
    _guest_requirement(partner)
    _vault_requirement(partner)
    _requirement(None, "Your assets isolated into a single TikTok Business Center (optional)")
    st.info(HINT_ISOLATE, icon=":material/info:")
    _requirement(
        None,
        "A dedicated monitor account with the **Admin** role on your partner's TikTok Business Center",
        "The Admin role is checked with TikTok when you connect.",
    )
    st.info(HINT_DEDICATED, icon=":material/info:")
    return connected and partner.eligible


def _guest_requirement(partner: partners.Partner) -> None:
    guests = workspace.list_users(svc.store, role=GUEST, partner_bc_id=partner.bc_id)
    joined = [u.email for u in guests if u.joined_at is not None]
    invited = [u.email for u in guests if u.joined_at is None]
    detail = "; ".join(
        part
        for part in (
            ", ".join(joined) and f"joined: {', '.join(joined)}",
            invited and f"invited, not signed in yet: {', '.join(invited)}",
        )
        if part
    )
    _requirement(
        bool(joined),
        "An admin from your partner's side has joined your PartnerWatch workspace as a **Guest User**",
        detail or "No guest user for this partner yet.",
    )
    st.error(HINT_GUEST_USER, icon=":material/shield_person:")
    if not guests:
        with st.expander("Invite the partner's admin as a guest user"):
            invite_guest_form(svc, me, [partner], key="pw_connect_invite", partner_bc_id=partner.bc_id)


def _vault_requirement(partner: partners.Partner) -> None:
    items = vault.shared_with(svc.store, me.email, partner.bc_id)
    _requirement(
        bool(items),
        "The monitor account's credentials shared with you in the credential vault",
        "Reveal them to log in to TikTok for Business in the next steps; each reveal is audited."
        if items
        else "Nothing shared with you for this partner yet.",
    )
    for item in items:
        with st.container(border=True):
            st.markdown(f"**{item.label}** · added by {item.created_by}")
            reveal_block(svc, me, item, key=f"pw_connect_item_{item.id}")
    st.info(HINT_MONITOR_SETUP, icon=":material/info:")
    if svc.settings.sandbox:
        st.caption(
            f"Sandbox: each partner's monitor account is `monitor@<partner-slug>.example` with password "
            f"`sandbox-pass`; the sandbox lists them at "
            f"[/sandbox/world](http://127.0.0.1:{svc.settings.sandbox_port}/sandbox/world)."
        )
    with st.expander("Add the monitor account to the vault", expanded=not items):
        vault_add_form(svc, me, [partner], key="pw_connect_vault_add", partner_bc_id=partner.bc_id)


def _open_dialog(bc_id: str) -> None:
    st.session_state[_STEP] = (bc_id, "dialog")
    st.session_state.pop(_RESULT, None)


def _close_dialog() -> None:
    if st.session_state.get(_STEP, ("", ""))[1] == "dialog":
        st.session_state.pop(_STEP, None)


@st.dialog("Connect your partner token", on_dismiss=_close_dialog)
def _connect_dialog(partner: partners.Partner) -> None:
    st.write(f"You are about to connect **{partner.name}** ({partner.bc_id}) with its monitor account.")
    st.write(
        "In the next step, TikTok for Business opens in a pop-up window: log in with the monitor account's "
        "credentials if asked, then confirm access for the PartnerWatch app (read-only)."
    )
    if st.button("Get started", type="primary", key="pw_get_started"):
        _begin(partner)
        st.rerun()


def _begin(partner: partners.Partner) -> None:
    """Mint a fresh single-use state for this partner and move to the grant step."""
    try:
        st.session_state[_FLOW] = connections.start(svc, me, purpose=connections.PARTNER, partner_bc_id=partner.bc_id)
        st.session_state[_STEP] = (partner.bc_id, "grant")
    except Exception as exc:
        st.session_state.pop(_STEP, None)
        st.session_state[_RESULT] = (partner.bc_id, False, problem(exc, "Start the partner connection"))


def _grant_step(partner: partners.Partner) -> None:
    started: connections.Started | None = st.session_state.get(_FLOW)
    if started is None or started.flow.partner_bc_id != partner.bc_id:
        _begin(partner)  # a flow for another partner is never reused
        started = st.session_state.get(_FLOW)
        if started is None:
            st.rerun()  # show why it could not start
    st.subheader("Grant access to the PartnerWatch app")
    st.write(
        "Click **Next** to open TikTok for Business in a pop-up window. If you have no TikTok session in this "
        "browser, log in with the monitor account's e-mail and password (see Requirements). Then, on **App "
        "Authorization | TikTok For Business**, click **Confirm**. The pop-up closes and this page shows the "
        "result."
    )
    _account_hint(partner)
    popup_button("Next", started.start_url, key=f"pw_next_{started.flow.flow_id}")
    _await_outcome(started.flow.flow_id, partner.bc_id)
    if st.button("Cancel", key="pw_cancel_connect"):
        _reset()
        st.rerun()


def _account_hint(partner: partners.Partner) -> None:
    """TikTok offers Confirm as the account that last logged in: say which one, when PartnerWatch knows."""
    switch = (
        "click **Switch account** on the App Authorization page in the pop-up (it logs you out of TikTok for "
        f"Business), log in as {md_escape(partner.name)}'s monitor account, then click **Confirm**."
    )
    last = oauth_flows.last_account(svc.store, me.email)
    if last is None:
        st.info(
            "TikTok remembers the last account that logged in. If the pop-up offers **Confirm** for an account "
            f"other than the monitor account, {switch}",
            icon=":material/switch_account:",
        )
        return
    account, at = last
    st.warning(
        f"TikTok remembers the last account that logged in: the pop-up will probably offer **Confirm** as "
        f"**{md_escape(account)}**, the account that answered your last authorization ({when(at)}). If that "
        f"is not the monitor account, {switch}",
        icon=":material/switch_account:",
    )


@st.fragment(run_every="1s")
def _await_outcome(flow_id: str, bc_id: str) -> None:
    progress = oauth_flows.progress(oauth_flows.get(svc.store, flow_id))
    if progress.state == oauth_flows.WAITING:
        st.caption(":material/hourglass_top: Waiting for TikTok… finish the authorization in the pop-up.")
        return
    ok = progress.state == oauth_flows.CONNECTED
    partner = partners.get(svc.store, bc_id)
    if ok:
        message = (
            f"{partner.name if partner else bc_id} is connected. The first Check for updates for this "
            "partner has started: follow it on the Automation page."
        )
    else:
        message = md_escape(progress.message)
    _reset()
    st.session_state[_RESULT] = (bc_id, ok, message)
    st.rerun()


def _reset() -> None:
    for key in (_FLOW, _STEP):
        st.session_state.pop(key, None)
    forget_revealed()


def _result(partner: partners.Partner) -> None:
    bc_id, ok, message = st.session_state.get(_RESULT, (None, False, ""))
    if bc_id != partner.bc_id:
        return
    if ok:
        st.success(message, icon=":material/check_circle:")
        st.page_link(
            page("automation"), label="Follow the Check for updates on Automation", icon=":material/arrow_forward:"
        )
    else:
        st.error(f"**Not connected.** {message}", icon=":material/error:")
        st.caption("Nothing was stored. Fix what the message says, then connect again.")


st.header("1. Choose partner", divider="gray")
chosen = _pick_partner(partners.all_current(svc.store))
if chosen is None:
    st.info(
        "Choose a partner. If your partner exists in your TikTok Business Center but is not listed, run "
        "**Check for updates** on the Partners page to sync and import it.",
        icon=":material/info:",
    )
    st.stop()
_status_notice(chosen)

st.header("2. Requirements", divider="gray")
ready = _requirements(chosen)

st.header("3. Connect", divider="gray")
_result(chosen)
step = st.session_state.get(_STEP)
if step is not None and step[0] != chosen.bc_id:
    _reset()  # the partner changed: the attempt for the other one is abandoned
    step = None
if step is None or step[1] == "dialog":
    again = chosen.status in (partners.RECONNECT_REQUIRED, partners.ONBOARDED)
    st.button(
        "Reconnect your partner token" if again else "Connect your partner token",
        type="primary",
        disabled=not ready,
        key="pw_open_connect",
        on_click=_open_dialog,
        args=(chosen.bc_id,),
    )
    if not ready:
        st.caption("Connect your Business Center and choose an eligible partner to continue.")
if step is not None and step[1] == "dialog":
    _connect_dialog(chosen)
elif step is not None and step[1] == "grant":
    _grant_step(chosen)
