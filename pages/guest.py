"""Guest users (a partner's admin): add the monitor account to the vault and share it with an admin."""

import streamlit as st

from core.accounts import partners
from core.connect import vault, workspace
from core.reviews import remediation
from core.security.roles import ADMIN
from ui.components import actor
from ui.feedback import attempt
from ui.resources import services
from ui.workspace_forms import vault_add_form

svc = services()
me = actor()
mine = workspace.user(svc.store, me.email)
partner = partners.get(svc.store, mine.partner_bc_id) if mine and mine.partner_bc_id else None

st.title("Share your monitor account")
if partner is None:
    st.warning("Your guest access is not tied to a partner. Ask the workspace admin who invited you to fix it.")
    st.stop()

st.write(
    f"You are a guest user of this PartnerWatch workspace for **{partner.name}**. Add the credentials of the "
    "monitor account that has the **Admin** role on your TikTok Business Center, then share them with the "
    "admin who connects your Business Center. PartnerWatch's app only reads your Business Center."
)
st.info(
    "**NOTE:** PartnerWatch recommends a dedicated TikTok for Business account (not assigned to a specific "
    "user) to monitor your Business Center, preferably with a PartnerWatch-managed e-mail address and phone "
    "number, and a secure password.",
    icon=":material/info:",
)

removals = remediation.for_partner_guest(svc.store, me, partner.bc_id)
if not removals.empty:
    st.warning(
        f"**Access review: {len(removals)} people to remove.** The security team asks you to remove these guest "
        f"users from {partner.name}'s Business Center (the next sync marks each one done):",
        icon=":material/person_remove:",
    )
    st.dataframe(
        removals,
        hide_index=True,
        column_order=["member", "user_email", "due_at", "status"],
        column_config={
            "member": "Account member",
            "user_email": "Email",
            "due_at": st.column_config.DatetimeColumn("Remove by", format="YYYY-MM-DD"),
            "status": "Status",
        },
        key="pw_guest_removals",
    )

vault_add_form(svc, me, [partner], key="pw_guest_vault_add", partner_bc_id=partner.bc_id)

admins = [u.email for u in workspace.list_users(svc.store, role=ADMIN)]
for item in vault.list_items(svc.store, partner_bc_id=partner.bc_id):
    if item.created_by != me.email:
        continue
    with st.container(border=True, key=f"pw_guest_item_{item.id}"):
        st.markdown(f"**{item.label}**")
        st.caption("Shared with: " + (", ".join(item.shared_with) or "nobody"))
        target = st.selectbox(
            "Share with an admin",
            [a for a in admins if a not in item.shared_with],
            key=f"pw_guest_share_to_{item.id}",
            index=None,
            placeholder="Choose an admin",
        )
        shared = st.button("Share", key=f"pw_guest_share_{item.id}", disabled=target is None) and attempt(
            lambda i=item.id, t=target: vault.share(svc.store, me, i, t), what="Share"
        )
        if shared:
            st.success(f"Shared with {target}.")
