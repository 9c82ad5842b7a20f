"""The Streamlit main script: who is signed in, which pages they get, and the navigation.

Only the pages of the user's role are registered, so an admin page reached by URL by anyone else is not
served; each admin page and every core action check the role again on the server. A store error that nothing
below caught (the database server down or lost: `DatabaseUnavailable`, `ConnectionLost`) ends the run with its
message, written for the person, instead of a traceback or the generic error of live mode.
"""

import streamlit as st

from core.security.roles import GUEST
from core.store.database import StoreError
from ui import auth
from ui.nav import home, page
from ui.resources import services
from ui.startup import hide_error_details


def serve() -> None:
    svc = services()
    if not svc.settings.sandbox:
        hide_error_details()  # also set at start-up (ui/startup.py); per run, so no path can miss it
    current = auth.current_actor(svc)
    if current is None:
        st.session_state.pop("pw_actor", None)
        email = None if svc.settings.sandbox else auth.signed_in_email()
        if email is None and not svc.settings.sandbox:
            auth.sign_in_screen()
        else:
            auth.no_access_screen(email)
        st.stop()
    st.session_state["pw_actor"] = current

    if current.role == GUEST:  # a partner's admin: shares the monitor account, sees no partner data
        pages = [home("guest"), page("guest")]
    else:
        pages = [home("partners"), page("partners")]
        if current.is_admin:
            pages.append(page("connect"))
        pages.append(page("members"))
        pages.append(page("reviews"))  # admins and analysts; core refuses guests too
        pages.append(page("automation"))
        pages.append(page("alerts"))
        if current.is_admin:
            pages.append(page("settings"))

    with st.sidebar:
        st.caption(f"Signed in as **{current.email}** ({current.role})")
        if svc.generated_key:
            st.caption(":material/key: Sandbox: secrets are encrypted with a key generated in `data/sandbox.key`.")
        if not svc.settings.sandbox:
            st.button("Sign out", on_click=st.logout)

    st.navigation(pages).run()


st.set_page_config(page_title="PartnerWatch", page_icon=":material/shield_person:", layout="wide")
try:
    serve()
except StoreError as exc:
    st.error(str(exc), icon=":material/database:")
