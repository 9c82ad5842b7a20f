"""Alerts: the deliveries (digests sent, pending, dead letters) and, read-only for analysts, rules and channels."""

import streamlit as st

from ui.alerts_sections import channels_section, deliveries_section, rules_section
from ui.components import actor
from ui.resources import services

svc = services()
me = actor()

st.title("Alerts")
st.caption(
    "One digest per Check for updates per channel. Failed sends are retried with backoff; after the configured "
    "number of attempts a delivery becomes a dead letter, which admins can retry or discard."
)
deliveries, rules_tab, channels_tab = st.tabs(["Deliveries", "Rules", "Channels"])
with deliveries:
    deliveries_section(svc, me)
with rules_tab:
    rules_section(svc, me)
with channels_tab:
    channels_section(svc, me)
