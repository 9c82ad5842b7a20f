"""Alerts in the UI: rules and channels (Settings → Alerts and the Alerts page; admins edit, analysts view) and
the Deliveries view (dead letters: retry and discard, audited in core)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.accounts import partners
from core.alerts import channels, dispatcher, outbox, rules
from core.alerts.triggers import TRIGGERS
from core.security.roles import Actor
from core.services import Services
from ui.components import admin_only_notice, md_escape
from ui.feedback import attempt, attempt_then_rerun, flash, show_flashes


def rules_section(svc: Services, me: Actor) -> None:
    show_flashes("alert_rules")
    all_channels = {c.id: c.name for c in channels.list_all(svc.store, me)}
    names = {p.bc_id: p.name or p.bc_id for p in partners.all_current(svc.store)}
    listed = rules.list_all(svc.store, me)
    st.dataframe(
        pd.DataFrame(
            {
                "Trigger": [r.label for r in listed],
                "On": [r.enabled for r in listed],
                "Partners": [", ".join(names.get(b, b) for b in r.partner_bc_ids) or "All partners" for r in listed],
                "Channels": [
                    ", ".join(all_channels.get(c, f"#{c}") for c in r.channel_ids) or "Every enabled channel"
                    for r in listed
                ],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    if not me.is_admin:
        admin_only_notice("change alert rules")
        return
    for rule in listed:
        with st.expander(f"{rule.label} ({'on' if rule.enabled else 'off'})"), st.form(f"alert_rule_{rule.id}"):
            st.caption(TRIGGERS[rule.trigger].explanation)
            enabled = st.toggle("On", value=rule.enabled, key=f"rule_on_{rule.id}")
            scope = st.multiselect(
                "Partners (none chosen: all partners)",
                list(names),
                default=[b for b in rule.partner_bc_ids if b in names],
                format_func=lambda b: names[b],
                key=f"rule_scope_{rule.id}",
            )
            chosen = st.multiselect(
                "Channels (none chosen: every enabled channel)",
                list(all_channels),
                default=[c for c in rule.channel_ids if c in all_channels],
                format_func=lambda c: all_channels[c],
                key=f"rule_channels_{rule.id}",
            )
            if st.form_submit_button("Save rule"):
                attempt_then_rerun(
                    lambda r=rule, on=enabled, s=scope, c=chosen: rules.save(
                        svc.store, me, trigger=r.trigger, enabled=on, partner_bc_ids=s, channel_ids=c, rule_id=r.id
                    ),
                    what="Save rule",
                    done=f"Saved the rule “{rule.label}”.",
                    slot="alert_rules",
                )


def channels_section(svc: Services, me: Actor) -> None:
    show_flashes("alert_channels")
    listed = channels.list_all(svc.store, me)
    if not listed:
        st.info("No alert channel yet: alerts are only recorded once a channel exists.")
    for channel in listed:
        cols = st.columns([3, 5, 2, 2, 2])
        cols[0].markdown(f"**{md_escape(channel.name)}**" + ("" if channel.enabled else " (off)"))
        cols[1].caption(md_escape(channel.summary))
        if me.is_admin:
            if cols[2].button("Send test", key=f"test_{channel.id}"):
                _send_test(svc, me, channel.name)
            switch = "Turn off" if channel.enabled else "Turn on"
            if cols[3].button(switch, key=f"switch_{channel.id}"):
                attempt_then_rerun(
                    lambda c=channel.id, on=not channel.enabled: channels.set_enabled(svc.store, me, c, on),
                    what=switch,
                    done=f"Turned the channel {md_escape(channel.name)} {'off' if channel.enabled else 'on'}.",
                    slot="alert_channels",
                )
            if cols[4].button("Remove", key=f"remove_{channel.id}"):
                attempt_then_rerun(
                    lambda c=channel.id: channels.delete(svc.store, me, c),
                    what="Remove channel",
                    done=f"Removed the channel {md_escape(channel.name)}.",
                    slot="alert_channels",
                )
    if not me.is_admin:
        admin_only_notice("add, test, turn off or remove alert channels")
        return
    _add_channel_form(svc, me)


def _send_test(svc: Services, me: Actor, name: str) -> None:
    result = attempt(lambda: dispatcher.send_test(svc, me, name), what="Send test")
    if result is None:
        return
    message = f"{name}: the receiver answered {result.answer}"
    (st.success if result.ok else st.error)(md_escape(message))


def _add_channel_form(svc: Services, me: Actor) -> None:
    kind = st.selectbox("New channel", list(channels.KINDS), format_func=channels.KINDS.get, key="new_channel_kind")
    with st.form("new_alert_channel", clear_on_submit=True):
        name = st.text_input("Name", placeholder="security-team")
        settings: dict[str, object] = {}
        if kind == channels.EMAIL:
            settings["host"] = st.text_input("SMTP server")
            settings["port"] = st.number_input("Port (STARTTLS)", value=587, min_value=1, max_value=65535)
            settings["username"] = st.text_input("User name")
            settings["password"] = st.text_input("Password", type="password")
            settings["sender"] = st.text_input("From")
            settings["recipients"] = st.text_input("To (comma separated)")
        else:
            hint = (
                f"In sandbox mode try {svc.settings.sandbox_receiver_url}"
                if svc.settings.sandbox
                else "https:// only; local and private addresses are refused unless PW_ALERTS_ALLOW names them."
            )
            settings["url"] = st.text_input("Webhook URL", type="password", help=hint)
            st.caption(hint)
        if st.form_submit_button("Add channel", type="primary"):
            created = attempt(
                lambda: channels.create(
                    svc.store, svc.box, dispatcher.guard_for(svc), me, name=name, kind=kind, settings=settings
                ),
                what="Add channel",
            )
            if created is None:
                return
            shown = "".join(
                f"  \n**{k.replace('_', ' ').capitalize()}** (shown once, copy it now): `{v}`"
                for k, v in created.shown_once.items()
            )
            flash(f"Added the channel {md_escape(created.channel.name)}.{shown}", slot="alert_channels")
            st.rerun()


_DELIVERY_COLUMNS = {
    "id": st.column_config.NumberColumn("#", format="#%d"),
    "channel": st.column_config.TextColumn("Channel"),
    "task_id": st.column_config.NumberColumn("Check for updates", format="#%d"),
    "status": st.column_config.TextColumn("Status"),
    "attempts": st.column_config.NumberColumn("Attempts"),
    "summary": st.column_config.TextColumn("Alerts", width="large"),
    "created_at": st.column_config.DatetimeColumn("Created at", format="YYYY-MM-DD HH:mm:ss z"),
    "delivered_at": st.column_config.DatetimeColumn("Delivered at", format="YYYY-MM-DD HH:mm:ss z"),
    "next_attempt_at": st.column_config.DatetimeColumn("Next attempt", format="YYYY-MM-DD HH:mm:ss z"),
    "last_error": st.column_config.TextColumn("Last error", width="large"),
}


def deliveries_section(svc: Services, me: Actor) -> None:
    show_flashes("alert_deliveries")
    choice = st.segmented_control(
        "Show", ["All", *outbox.STATUS_LABELS.values()], default="All", key="deliveries_status"
    )
    status = next((k for k, v in outbox.STATUS_LABELS.items() if v == choice), None)
    frame = outbox.listing(svc.store, me, status=status)
    frame["status"] = frame["status"].map(outbox.STATUS_LABELS)
    st.dataframe(frame[list(_DELIVERY_COLUMNS)], column_config=_DELIVERY_COLUMNS, hide_index=True, width="stretch")
    dead = [int(i) for i in outbox.listing(svc.store, me, status=outbox.DEAD)["id"]]
    if not dead:
        return
    if not me.is_admin:
        admin_only_notice("retry or discard dead letters")
        return
    picked = st.multiselect("Dead letters", dead, format_func=lambda i: f"#{i}", key="dead_letters")
    left, right = st.columns(2)
    if left.button("Retry", disabled=not picked, key="retry_dead"):
        attempt_then_rerun(
            lambda: _retry(svc, me, picked),
            what="Retry",
            done=lambda n: f"Queued {n} delivery(ies) again.",
            slot="alert_deliveries",
        )
    if right.button("Discard", disabled=not picked, key="discard_dead"):
        attempt_then_rerun(
            lambda: outbox.discard(svc.store, me, picked),
            what="Discard",
            done=lambda n: f"Discarded {n} delivery(ies).",
            slot="alert_deliveries",
        )


def _retry(svc: Services, me: Actor, picked: list[int]) -> int:
    queued = outbox.retry(svc.store, me, picked)
    dispatcher.wake()
    return queued
