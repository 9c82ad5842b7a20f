"""Process-wide resources for the Streamlit script threads (the only Streamlit caching of domain objects)."""

from __future__ import annotations

import streamlit as st

from core import services as core_services
from core.services import Services


@st.cache_resource(show_spinner=False)
def services() -> Services:
    return core_services.get()
