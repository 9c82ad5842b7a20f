"""Small render helpers shared by the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from core.security.roles import Actor

_POPUP_JS = """
export default function ({ parentElement, data }) {
  const button = parentElement.querySelector("button");
  button.textContent = data.label;
  button.onclick = () => {
    const popup = window.open(data.url, "tiktok_oauth", "popup,width=560,height=760");
    if (!popup) {
      window.open(data.url, "_blank");
    }
  };
}
"""
_POPUP_CSS = """
button { font: inherit; padding: .45rem 1rem; border-radius: .5rem; border: 1px solid transparent;
         background: #ff4b4b; color: white; cursor: pointer; }
button:hover { filter: brightness(.95); }
"""
_popup = st.components.v2.component(
    "pw_popup_button", html="<button type='button'></button>", css=_POPUP_CSS, js=_POPUP_JS
)


def popup_button(label: str, url: str, *, key: str) -> None:
    """A button that opens `url` (same origin) in a pop-up window, with a plain link as fallback."""
    _popup(data={"label": label, "url": url}, key=key)
    st.caption(f"Pop-up blocked? [Open the TikTok authorization in a new tab]({url})")


# Chart data's column names as users read them (axes, legends and tooltips show the column names).
CHART_NAMES = {
    "partner": "Partner",
    "guest_users": "Guest users",
    "role": "TikTok role",
    "members": "Guest users",
    "change": "Change",
    "sync": "Sync (task · time)",
}


def guest_users_chart_spec() -> dict[str, Any]:
    """The Partners page's chart of guest users per partner and role (stacked horizontal bars) as the Vega-Lite
    spec that `st.bar_chart(data, x=Partner, y=Guest users, color=TikTok role, horizontal=True)` builds through
    Altair (tests/pages/test_partners_work.py holds the two equal). Drawn from this spec, the page neither imports
    Altair (a process's first Partners view waited for it) nor builds and validates the chart on every run."""
    partner, users, role = CHART_NAMES["partner"], CHART_NAMES["guest_users"], CHART_NAMES["role"]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.4.1.json",
        "mark": {"type": "bar"},
        "encoding": {
            "color": {"field": role, "legend": {"titlePadding": 5, "offset": 5, "orient": "bottom"}, "type": "nominal"},
            "tooltip": [
                {"field": partner, "type": "nominal"},
                {"field": users, "type": "quantitative"},
                {"field": role, "type": "nominal"},
            ],
            "x": {
                "axis": {"grid": True, "tickMinStep": 1},
                "field": users,
                "scale": {},
                "title": users,
                "type": "quantitative",
            },
            "y": {"axis": {"grid": False}, "field": partner, "scale": {}, "title": partner, "type": "ordinal"},
        },
        "height": 0,  # as st.bar_chart's: the frontend sizes the chart
        "width": 0,
        "params": [{"name": "param_1", "select": {"type": "interval", "encodings": ["x", "y"]}, "bind": "scales"}],
    }


def actor() -> Actor:
    """The signed-in user, set by the shell before any page runs."""
    return st.session_state["pw_actor"]


_WHEN = "%Y-%m-%d %H:%M UTC"


def when(value: datetime | float | None) -> str:
    if value is None or pd.isna(value):
        return "never"
    return pd.Timestamp(value).tz_convert("UTC").strftime(_WHEN)


def when_column(values: pd.Series) -> pd.Series:
    """`when` of each instant of a column at once (a row per partner: one conversion, not one per row)."""
    return pd.to_datetime(values, utc=True).dt.strftime(_WHEN).fillna("never")


_MARKDOWN_SPECIALS = "\\`*_[]|~$"  # enough for text inside a sentence (not at a line start)


def md_escape(text: str) -> str:
    """Text shown literally inside Streamlit markdown (TikTok's masked e-mails carry `***`)."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIALS else ch for ch in text)


def keep_state(tab: str, is_open: bool, keys: tuple[str, ...]) -> None:
    """Keep the values of a tab's widgets while it is not open, and show them again when it opens.

    Streamlit drops a widget's value at the end of a run that does not draw it, so a tab whose body runs only
    when it is open would reopen with its defaults; values set through Session State survive. They are set
    again in the run that draws the widgets once more: only a value set in that run reaches the browser's
    widget (it shows its default otherwise, while the page used the kept value)."""
    hidden = f"pw_hidden_{tab}"
    if is_open and not st.session_state.pop(hidden, False):
        return
    if not is_open:
        st.session_state[hidden] = True
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def admin_only_notice(what: str) -> None:
    st.caption(f"Only admins can {what}.")
