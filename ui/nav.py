"""The app's pages, in sidebar order; one place so links and the router agree."""

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

_PAGES = {
    "partners": ("Partners", ":material/handshake:"),
    "connect": ("Connect", ":material/add_link:"),
    "members": ("Members", ":material/group:"),
    "reviews": ("Reviews", ":material/fact_check:"),
    "automation": ("Automation", ":material/sync:"),
    "alerts": ("Alerts", ":material/notifications:"),
    "settings": ("Settings", ":material/settings:"),
    "guest": ("Share credentials", ":material/key:"),
}


def page(name: str) -> st.Page:
    """The page at its own URL, `/<name>` (a shared link or bookmark opens it)."""
    title, icon = _PAGES[name]
    return st.Page(PAGES_DIR / f"{name}.py", title=title, icon=icon, url_path=name)


def home(name: str) -> st.Page:
    """The same page served at `/` (hidden from the menu, whose link goes to `/<name>`).

    The default page of `st.navigation` is served only at `/`, so a default Partners page answered "Page not
    found" at `/partners`. Serving it at both (rather than redirecting from `/` with `st.switch_page`, whose
    rerun drops the widget changes of the run that triggers it) keeps every page at its own URL.
    """
    title, icon = _PAGES[name]
    return st.Page(
        PAGES_DIR / f"{name}.py", title=title, icon=icon, url_path=f"{name}-home", default=True, visibility="hidden"
    )
