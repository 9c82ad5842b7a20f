"""The app's pages, in sidebar order; one place so links and the router agree."""

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

_PAGES = {
    "partners": ("Partners", ":material/handshake:"),
    "connect": ("Connect", ":material/add_link:"),
    "members": ("Members", ":material/group:"),
    "automation": ("Automation", ":material/sync:"),
    "settings": ("Settings", ":material/settings:"),
    "guest": ("Share credentials", ":material/key:"),
}


def page(name: str, *, default: bool = False) -> st.Page:
    title, icon = _PAGES[name]
    return st.Page(PAGES_DIR / f"{name}.py", title=title, icon=icon, default=default)
