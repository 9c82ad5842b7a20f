"""Who is using the app: `st.login` in production, a clearly marked user switcher in the sandbox.

The role is looked up on every run (`core.connect.workspace.current_actor`), so a change of configuration or a
removed guest user takes effect on the next interaction. Sign-ins and refused sign-ins are audited once
per browser session.
"""

from __future__ import annotations

import streamlit as st

from core.connect import workspace
from core.security import audit
from core.security.roles import Actor
from core.services import Services

_SANDBOX_KEY = "sandbox_user"
_AUDITED_KEY = "pw_signin_audited"
_JOINED_KEY = "pw_joined_marked"


def signed_in_email() -> str | None:
    """The identity provider's e-mail of the signed-in user (live mode), or None."""
    if not st.user.is_logged_in:
        return None
    return str(st.user.get("email") or "").strip().lower() or None


def current_actor(services: Services) -> Actor | None:
    """The workspace user of this session, or None when nobody has access (the caller explains why)."""
    if services.settings.sandbox:
        return _joined_once(services, _sandbox_actor(services))
    email = signed_in_email()
    if email is None:
        return None
    actor = workspace.current_actor(services.store, services.settings, email)
    _audit_once(services, email, actor)
    return _joined_once(services, actor)


def _joined_once(services: Services, actor: Actor | None) -> Actor | None:
    """The first time a user uses the app in a browser session, record that they have joined."""
    if actor is not None and st.session_state.get(_JOINED_KEY) != actor.email:
        st.session_state[_JOINED_KEY] = actor.email
        workspace.mark_joined(services.store, actor.email)
    return actor


def _audit_once(services: Services, email: str, actor: Actor | None) -> None:
    marker = f"{email}:{actor.role if actor else '-'}"
    if st.session_state.get(_AUDITED_KEY) == marker:
        return
    st.session_state[_AUDITED_KEY] = marker
    audit.record(
        services.store,
        actor=email,
        action="sign_in",
        target="PartnerWatch",
        outcome="ok" if actor else "refused",
        detail=f"role {actor.role}" if actor else "no role",
    )


def _sandbox_actor(services: Services) -> Actor | None:
    users = workspace.sandbox_users(services.store)
    emails = [u.email for u in users]
    with st.sidebar:
        st.warning("**Sandbox mode**: TikTok is emulated locally; no real account is touched.", icon="🧪")
        email = st.selectbox(
            "Sandbox user (switch to try each role)",
            emails,
            key=_SANDBOX_KEY,
            format_func=lambda e: f"{e} · {next(u.role for u in users if u.email == e)}",
        )
    return workspace.current_actor(services.store, services.settings, email)


def sign_in_screen() -> None:
    st.title("PartnerWatch")
    st.write("Sign in with your company account to see who at your partners can reach your TikTok assets.")
    st.button("Sign in", type="primary", on_click=st.login)


def no_access_screen(email: str | None) -> None:
    """Signed in, but no role: say so plainly and offer to sign out."""
    st.title("PartnerWatch")
    st.error(f"**{email or 'This account'}** has no access to this PartnerWatch workspace.", icon="🚫")
    st.write(
        "Access is granted by the workspace's configuration (an e-mail address or your company's domain "
        "listed as admin, analyst or guest). Ask a PartnerWatch administrator to add you, then sign in again."
    )
    st.button("Sign out", on_click=st.logout)
