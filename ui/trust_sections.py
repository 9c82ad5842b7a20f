"""Settings sections for the trust features: Sync policy (daily sync, mass-removal safeguard) and Audit log.

Render only: every change goes through core, which refuses non-admins and writes the audit log.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import streamlit as st

from core.members import flags
from core.security import audit
from core.security.audit_export import AuditFilter, csv_bytes, rows
from core.security.roles import Actor
from core.services import Services
from core.sync import safeguard, schedule
from ui.feedback import attempt, attempt_then_rerun

_ANY = "Any"


def sync_policy_section(svc: Services, me: Actor) -> None:
    """Daily scheduled sync (on/off, UTC time) and the mass-removal safeguard threshold."""
    current = schedule.policy(svc.store)
    st.caption(current.describe())
    with st.form("pw_sync_policy", border=True):
        enabled = st.toggle("Daily scheduled sync", value=current.enabled, key="pw_schedule_enabled")
        at = st.time_input("Time of day (UTC)", value=current.at, step=timedelta(minutes=15), key="pw_schedule_time")
        threshold = st.number_input(
            "Mass-removal safeguard (%)",
            min_value=0.0,
            max_value=100.0,
            step=1.0,
            value=float(safeguard.threshold_pct(svc.store)),
            key="pw_threshold",
            help="A sync that would remove more than this share of a partner's guest users is halted and "
            "applies nothing. 100 turns the safeguard off.",
        )
        if st.form_submit_button("Save sync policy", type="primary"):

            def save() -> None:
                schedule.set_policy(svc.store, me, enabled=enabled, at=at)
                if threshold != safeguard.threshold_pct(svc.store):
                    safeguard.set_threshold_pct(svc.store, me, threshold)

            attempt_then_rerun(save, what="Save sync policy", done="Sync policy saved.")


def risk_flags_section(svc: Services, me: Actor) -> None:
    """The personal e-mail domains behind the "personal email domain" risk flag."""
    with st.form("pw_personal_domains", border=True):
        text = st.text_area(
            "Personal e-mail domains",
            value="\n".join(flags.personal_domains(svc.store)),
            help="One per line (or comma separated). Guest users whose e-mail is at one of these "
            "domains get the personal-domain flag on the Members page.",
        )
        if st.form_submit_button("Save domains"):
            attempt_then_rerun(
                lambda: flags.set_personal_domains(svc.store, me, text),
                what="Save domains",
                done=lambda saved: f"Saved {len(saved)} personal e-mail domains.",
            )


def _choice(label: str, values: list[str], key: str) -> str | None:
    chosen = st.selectbox(label, [_ANY, *values], key=key)
    return None if chosen == _ANY else chosen


def audit_log_section(svc: Services, me: Actor) -> None:
    """Who did what when, filtered, with a safe CSV download of exactly the filtered rows."""
    actor_col, action_col, outcome_col, since_col, until_col = st.columns(5)
    with actor_col:
        actor = _choice("Actor", audit.distinct(svc.store, "actor"), "pw_audit_actor")
    with action_col:
        action = _choice("Action", audit.distinct(svc.store, "action"), "pw_audit_action")
    with outcome_col:
        outcome = _choice("Outcome", audit.distinct(svc.store, "outcome"), "pw_audit_outcome")
    today = datetime.now(UTC).date()
    since = since_col.date_input("From (UTC)", value=today - timedelta(days=30), key="pw_audit_since")
    until = until_col.date_input("To (UTC)", value=today, key="pw_audit_until")
    f = AuditFilter(actor=actor, action=action, outcome=outcome, since=since, until=until)
    frame = attempt(lambda: rows(svc.store, me, f), what="Audit log")
    if frame is None:
        return
    st.caption(f"{len(frame)} entries, newest first" + (" (first 10,000)" if len(frame) >= f.limit else ""))
    st.dataframe(
        frame.drop(columns=["id"]),
        hide_index=True,
        width="stretch",
        key="pw_audit_table",
        column_config={"at": st.column_config.DatetimeColumn("At", format="YYYY-MM-DD HH:mm:ss z")},
    )
    st.download_button(
        "Download CSV",
        data=functools.partial(csv_bytes, svc.store, me, f),
        file_name=f"audit-log-{today:%Y%m%d}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="pw_audit_download",
    )
