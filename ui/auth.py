"""Who is using the app: `st.login` in production, a clearly marked user switcher in the sandbox."""

from __future__ import annotations

import streamlit as st

from core import workspace
from core.roles import Actor
from core.services import Services

_SANDBOX_KEY = "sandbox_user"


def current_actor(services: Services) -> Actor | None:
    """The signed-in workspace user, or None (the caller shows the sign-in screen)."""
    if services.settings.sandbox:
        return _sandbox_actor(services)
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "")
    return Actor(email, workspace.role_for(services.store, services.settings, email))


def _sandbox_actor(services: Services) -> Actor:
    users = workspace.sandbox_users(services.store)
    emails = [u.email for u in users]
    with st.sidebar:
        st.warning("**Sandbox mode**: TikTok is emulated locally; no real account is touched.", icon="🧪")
        email = st.selectbox("Sandbox user (switch to try each role)", emails, key=_SANDBOX_KEY,
                             format_func=lambda e: f"{e} · {next(u.role for u in users if u.email == e)}")
    chosen = next(u for u in users if u.email == email)
    return Actor(chosen.email, chosen.role)


def sign_in_screen() -> None:
    st.title("PartnerWatch")
    st.write("Sign in with your company account to see who at your partners can reach your TikTok assets.")
    st.button("Sign in", type="primary", on_click=st.login)
