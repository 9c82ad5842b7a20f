"""Forms shared by the Connect wizard and Settings: invite a guest user, add and reveal vault items.

Every action goes through core (which refuses non-admins server-side); these only render and report.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.accounts.partners import Partner
from core.connect import vault, workspace
from core.security.roles import GUEST, ROLES, Actor
from core.services import Services
from ui.feedback import attempt, attempt_then_rerun, flash, show_flashes

_REVEALED = "pw_vault_revealed"  # item id → Credentials, for this session until hidden


def invite_guest_form(
    svc: Services, me: Actor, partner_list: list[Partner], *, key: str, partner_bc_id: str | None = None
) -> None:
    """Invite a partner-side admin as a guest user of the workspace, tied to a partner."""
    names = {p.bc_id: p.name for p in partner_list}
    show_flashes(key)
    with st.form(key, clear_on_submit=True, border=True):
        email = st.text_input("Guest user's e-mail", placeholder="admin@partner.example")
        chosen = (
            partner_bc_id
            if partner_bc_id in names
            else st.selectbox("Partner", list(names), format_func=lambda b: f"{names[b]} ({b})")
        )
        if st.form_submit_button("Invite guest user", disabled=not me.is_admin or not names):
            user = attempt(
                lambda: workspace.invite(svc.store, me, email, GUEST, partner_bc_id=chosen), what="Invite guest user"
            )
            if user is not None:
                _rerun_with_notice(key, f"Invited {user.email} as a guest user for {names.get(chosen, chosen)}.")


def vault_add_form(
    svc: Services, me: Actor, partner_list: list[Partner], *, key: str, partner_bc_id: str | None = None
) -> None:
    """Add a monitor account (email, phone, password) to the credential vault."""
    names = {p.bc_id: p.name for p in partner_list}
    show_flashes(key)
    with st.form(key, clear_on_submit=True, border=True):
        chosen = (
            partner_bc_id
            if partner_bc_id in names
            else st.selectbox("Partner", list(names), format_func=lambda b: f"{names[b]} ({b})")
        )
        email = st.text_input("Monitor account e-mail")
        phone = st.text_input("Monitor account phone")
        password = st.text_input("Monitor account password", type="password")
        if st.form_submit_button("Add to the vault", disabled=not names):
            item = attempt(
                lambda: vault.add(
                    svc.store, svc.box, me, partner_bc_id=chosen, email=email, phone=phone, password=password
                ),
                what="Add to the vault",
            )
            if item is not None:
                _rerun_with_notice(key, f"Added {item.label} to the vault, shared with you.")


def _rerun_with_notice(key: str, message: str) -> None:
    """Rerun the page so every check above the form sees the change; the message shows once, by the form."""
    flash(message, slot=key)
    st.rerun()


def reveal_block(svc: Services, me: Actor, item: vault.VaultItem, *, key: str) -> None:
    """Reveal (audited) and show a monitor account's credentials with copy buttons, or hide them."""
    revealed: dict = st.session_state.setdefault(_REVEALED, {})
    creds = revealed.get(item.id)
    if creds is None:
        if st.button(
            f"Reveal {item.email_hint}",
            key=f"{key}_reveal",
            icon=":material/visibility:",
            help="Each reveal is written to the audit log.",
        ):
            creds = attempt(lambda: vault.reveal(svc.store, svc.box, me, item.id), what="Reveal credentials")
            if creds is not None:  # on failure the message stays on screen (no rerun)
                revealed[item.id] = creds
                st.rerun()
        return
    st.caption("E-mail")
    st.code(creds.email, language=None)
    st.caption("Phone")
    st.code(creds.phone or "—", language=None)
    st.caption("Password")
    st.code(creds.password, language=None)
    if st.button("Hide", key=f"{key}_hide", icon=":material/visibility_off:"):
        revealed.pop(item.id, None)
        st.rerun()


def forget_revealed() -> None:
    """Drop every revealed credential from this session."""
    st.session_state.pop(_REVEALED, None)


def workspace_users_section(svc: Services, me: Actor, partner_list: list[Partner]) -> None:
    """Settings → Workspace users: the list, a guest-user invite tied to a partner, and role changes."""
    names = {p.bc_id: p.name for p in partner_list}
    users = workspace.list_users(svc.store)
    st.dataframe(
        [
            {
                "E-mail": u.email,
                "Role": u.role,
                "Partner": names.get(u.partner_bc_id or "", u.partner_bc_id or ""),
                "Invited by": u.invited_by or "",
                "Invited at": u.invited_at,
            }
            for u in users
        ],
        hide_index=True,
        width="stretch",
        key="pw_workspace_users",
    )
    left, right = st.columns(2)
    with left:
        st.markdown("**Invite a guest user** (a partner's admin, to share the monitor account)")
        invite_guest_form(svc, me, partner_list, key="pw_settings_invite")
    with right:
        st.markdown("**Invite a user or change a role**")
        role_form(svc, me, names)


LIVE_ROLES_HELP = (
    "Admin and analyst roles come from configuration in production: `admins` and `analysts` "
    "under `[partnerwatch.roles]` in `.streamlit/secrets.toml`, or the `PW_ROLE_ADMINS` and "
    "`PW_ROLE_ANALYSTS` environment variables. Here you can add guest users only."
)


def role_form(svc: Services, me: Actor, names: dict[str, str]) -> None:
    """The role form: admin or analyst in the sandbox; in production only guest users (tied to a partner),
    since configuration decides who is an admin or an analyst."""
    sandbox = svc.settings.sandbox
    show_flashes("pw_settings_role")
    if not sandbox:
        st.caption(LIVE_ROLES_HELP)
    with st.form("pw_settings_role", clear_on_submit=True, border=True):
        email = st.text_input("E-mail", key="pw_role_email")
        role = st.selectbox("Role", [r for r in ROLES if r != GUEST] if sandbox else [GUEST], key="pw_role_role")
        partner = (
            None
            if sandbox
            else st.selectbox("Partner", list(names), format_func=names.get, key="pw_role_partner", index=None)
        )
        saved = st.form_submit_button("Save role") and attempt(
            lambda: workspace.invite(svc.store, me, email, role, partner_bc_id=partner), what="Save role"
        )
        if saved:
            _rerun_with_notice("pw_settings_role", f"{email.strip().lower()} is now {role}.")


def vault_section(svc: Services, me: Actor, partner_list: list[Partner]) -> None:
    """Settings → Credential vault: add, share with a workspace user, reveal (audited), delete."""
    names = {p.bc_id: p.name for p in partner_list}
    with st.expander("Add a monitor account", icon=":material/add:"):
        vault_add_form(svc, me, partner_list, key="pw_settings_vault_add")
    items = vault.list_items(svc.store)
    if not items:
        st.caption("The vault is empty.")
    emails = [u.email for u in workspace.list_users(svc.store)]
    for item in items:
        partner = names.get(item.partner_bc_id or "", item.partner_bc_id or "no partner")
        with st.container(border=True, key=f"pw_vault_item_{item.id}"):
            st.markdown(f"**{item.label}** · {partner} · added by {item.created_by}")
            st.caption("Shared with: " + (", ".join(item.shared_with) or "nobody"))
            reveal_block(svc, me, item, key=f"pw_settings_item_{item.id}")
            share_col, delete_col = st.columns([3, 1], vertical_alignment="bottom")
            others = [e for e in emails if e not in item.shared_with]
            target = share_col.selectbox(
                "Share with", others, key=f"pw_share_to_{item.id}", index=None, placeholder="Choose a workspace user"
            )
            if share_col.button("Share", key=f"pw_share_{item.id}", disabled=target is None):
                _run(lambda i=item.id, t=target: vault.share(svc.store, me, i, t), f"Shared with {target}.")
            if delete_col.button("Delete", key=f"pw_delete_{item.id}", icon=":material/delete:"):
                _run(lambda i=item.id: vault.delete(svc.store, me, i), f"Deleted {item.label}.")


def _run(action: Callable[[], object], done: str) -> None:
    attempt_then_rerun(action, what=done, done=done)
