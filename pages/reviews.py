"""Reviews: access-review campaigns (admins create and sign off, analysts review; guests never get this page)."""

from collections import Counter
from datetime import date, timedelta

import streamlit as st

from core.members import flags
from core.members.filters import MemberFilter
from core.reviews import campaigns, decisions, remediation, report, snapshot
from core.reviews.campaigns import Scope
from core.reviews.decisions import ReviewFilter
from ui.components import actor, admin_only_notice, when
from ui.feedback import attempt, flash, show_flashes, succeeded
from ui.member_filters import filter_row, sort_row
from ui.resources import services

svc = services()
me = actor()
st.title("Reviews")
st.caption(
    "Certify who at your partners keeps access: a campaign freezes the guest users in scope, reviewers decide "
    "Keep, Remove or Needs info, an admin signs off, and the attestation report goes to the auditor."
)


def _new_campaign() -> None:
    onboarded = campaigns.onboarded_partners(svc.store)
    with st.expander("New campaign", icon=":material/add:"), st.form("review_new", border=False):
        name = st.text_input("Name", placeholder="Q3 partner access review")
        chosen = st.multiselect(
            "Partners", list(onboarded), format_func=onboarded.get, placeholder="All onboarded partners"
        )
        cols = st.columns(2)
        admins_only = cols[0].toggle("Only partner admins")
        flagged_only = cols[1].toggle("Only flagged members")
        due = cols[0].date_input("Due date", value=date.today() + timedelta(days=14))
        overdue = cols[1].number_input(
            "Removals overdue after (days)", min_value=1, value=campaigns.DEFAULT_OVERDUE_DAYS, step=1
        )
        st.caption("Reviewers per partner (e-mails, comma separated); leave empty for every analyst.")
        reviewers = {
            bc: st.text_input(onboarded[bc], key=f"review_new_reviewers_{bc}") for bc in (chosen or list(onboarded))
        }
        if st.form_submit_button("Create campaign", type="primary"):
            created = attempt(
                lambda: campaigns.create(
                    svc.store,
                    me,
                    name=name,
                    scope=Scope(tuple(chosen), admins_only, flagged_only),
                    due_date=due,
                    overdue_days=int(overdue),
                    reviewers={bc: text.split(",") for bc, text in reviewers.items() if text.strip()},
                ),
                what="Create campaign",
            )
            if created is not None:
                st.session_state["review_campaign"] = created.id
                st.success(f"Campaign #{created.id} created: {created.members} guest users frozen.")


if me.is_admin:
    _new_campaign()
else:
    admin_only_notice("create or sign off campaigns")

listed = campaigns.list_campaigns(svc.store, me)
if not listed:
    st.info("No access review yet." + (" Create one above." if me.is_admin else " An admin starts them."))
    st.stop()
by_id = {c.id: c for c in listed}
if st.session_state.get("review_campaign") not in by_id:
    st.session_state["review_campaign"] = listed[0].id
campaign_id = st.selectbox(
    "Campaign",
    list(by_id),
    key="review_campaign",
    format_func=lambda i: f"#{i} {by_id[i].name} · {'signed off' if by_id[i].closed else 'open'}",
)
campaign = by_id[campaign_id]
names = campaigns.partners_of(svc.store, campaign.id)
st.markdown(
    f"**Scope:** {campaign.scope.describe(names)} · **Snapshot:** {when(campaign.snapshot_at)} "
    f"({campaign.members} guest users) · **Due:** {campaign.due_date or 'no date'}"
)
progress = decisions.progress(svc.store, me, campaign.id)
decided, total = int(progress["decided"].sum()), max(1, campaign.members)
st.progress(decided / total, text=f"{decided} of {campaign.members} decided")
with st.expander("Progress per partner"):
    st.dataframe(
        progress.assign(
            progress=progress["decided"] / progress["members"],
            reviewers=[
                ", ".join(campaigns.reviewers(svc.store, campaign.id).get(b, [])) or "all analysts"
                for b in progress["partner_bc_id"]
            ],
        ),
        hide_index=True,
        column_order=[
            "partner",
            "assigned_to_you",
            "reviewers",
            "members",
            "decided",
            "progress",
            "keep",
            "remove",
            "needs_info",
        ],
        column_config={
            "partner": "Partner",
            "assigned_to_you": st.column_config.CheckboxColumn("Yours"),
            "reviewers": "Reviewers",
            "members": "Guest users",
            "decided": "Decided",
            "progress": st.column_config.ProgressColumn("Progress", min_value=0, max_value=1, format="percent"),
            "keep": "Keep",
            "remove": "Remove",
            "needs_info": "Needs info",
        },
        key="review_progress",
    )

# -- the review table --------------------------------------------------------------------------------------------
mine = campaigns.assigned_to(svc.store, me, campaign.id)
chosen, (decision_col,) = filter_row("review", names, extra=1)
chosen_decisions = decision_col.multiselect(
    "Decision", list(decisions.LABELS), format_func=decisions.LABELS.get, key="review_decision", placeholder="Any"
)
ordered, last = sort_row("review")
mine_only = last.toggle(
    "Only mine", value=bool(mine), key="review_mine", help="Only the partners assigned to you", disabled=not mine
)
rf = ReviewFilter(
    members=MemberFilter(**chosen, **ordered),
    decisions=tuple(chosen_decisions),
    mine_only=mine_only and bool(mine),
)
if st.session_state.get("review_filter") != (campaign.id, rf):
    st.session_state["review_filter"] = (campaign.id, rf)
    st.session_state["review_page"] = 1
shown = decisions.view(svc.store, me, campaign.id, rf, st.session_state.get("review_page", 1))
st.session_state["review_page"] = shown.page
rows = shown.rows.assign(decision=shown.rows["decision"].map(lambda d: decisions.LABELS.get(d, "Undecided")))
st.caption(f"Guest users {shown.offset + 1}–{shown.offset + len(rows)} of {shown.total}" if shown.total else "")
row_keys = list(zip(shown.rows["partner_bc_id"], shown.rows["member_key"], strict=True))


def _pick_from_table() -> None:
    """A row selected in the table picks that guest user in the "Decide on one guest user" box."""
    picked = st.session_state["review_table"].selection.rows
    if picked and picked[0] < len(row_keys):
        st.session_state["review_pick"] = row_keys[picked[0]]


st.dataframe(
    rows,
    hide_index=True,
    width="stretch",
    height="content",
    on_select=_pick_from_table,
    selection_mode="single-row",
    column_order=[
        "member",
        "user_email",
        "partner",
        "role",
        "status",
        "flags",
        "decision",
        "comment",
        "decided_by",
        "decided_at",
    ],
    column_config={
        "member": "Account member",
        "user_email": "Email",
        "partner": "Partner",
        "role": "TikTok role",
        "status": "Membership status",
        "flags": st.column_config.ListColumn("Risk flags", help=flags.help_text()),
        "decision": "Decision",
        "comment": "Comment",
        "decided_by": "Reviewer",
        "decided_at": st.column_config.DatetimeColumn("Decided at", format="YYYY-MM-DD HH:mm z"),
    },
    key="review_table",
)
st.pagination(shown.pages, key="review_page")


def _pick_one() -> tuple[str, str] | None:
    """The guest user to decide on: a row selected in the table, or one found here by typing (a canvas table
    row is hard to reach by keyboard or screen reader; this box is not)."""
    # the browser returns the chosen label, so a label must not change with the decision and must be unique
    labels = {
        key: f"{row.member or row.user_email} · {row.user_email or 'no e-mail'} · {row.partner}"
        for key, row in zip(row_keys, rows.itertuples(), strict=True)
    }
    repeated = Counter(labels.values())
    labels = {key: label + (f" · {key[1]}" if repeated[label] > 1 else "") for key, label in labels.items()}
    if st.session_state.get("review_pick") not in labels:  # another page or filter
        st.session_state.pop("review_pick", None)
    return st.selectbox(
        "Decide on one guest user",
        list(labels),
        index=None,
        format_func=labels.get,
        key="review_pick",
        placeholder="Select a row in the table, or type a name or e-mail shown on this page",
    )


def _decide_row(row) -> None:
    with st.form("review_row", border=True):
        st.markdown(f"**{row.member}** ({row.user_email or 'no e-mail'}) at **{row.partner}**")
        current = list(decisions.DECISIONS).index(row.decision_key) if row.decision_key in decisions.DECISIONS else 0
        which = f"{row.partner_bc_id}_{row.member_key}"  # another guest user's form starts afresh
        choice = st.radio(
            "Decision",
            list(decisions.DECISIONS),
            index=current,
            format_func=decisions.DECISIONS.get,
            horizontal=True,
            key=f"review_row_choice_{which}",
        )
        comment = st.text_input("Comment (optional)", value=row.comment or "", key=f"review_row_comment_{which}")
        if st.form_submit_button("Save decision", type="primary") and succeeded(
            lambda: decisions.decide(svc.store, me, campaign.id, row.partner_bc_id, row.member_key, choice, comment),
            what="Save decision",
        ):
            st.rerun()


def _forget_bulk() -> None:
    st.session_state.pop("review_bulk_pending", None)


@st.dialog("Confirm bulk decision", on_dismiss=_forget_bulk)
def _confirm_bulk(count: int, choice: str, comment: str) -> None:
    st.write(f"Set **{decisions.DECISIONS[choice]}** on **{count}** guest users (the filtered rows you review)?")
    if st.button(f"Apply to {count} guest users", type="primary", key="review_bulk_confirm"):
        done = attempt(
            lambda: decisions.decide_bulk(svc.store, me, campaign.id, rf, choice, comment, expected=count),
            what="Bulk decision",
        )
        if done is not None:
            _forget_bulk()
            flash(f"{done} decisions recorded.", slot="review_bulk")
            st.rerun()


if not campaign.closed:
    picked = _pick_one()
    if picked is not None:
        _decide_row(shown.rows.assign(decision_key=shown.rows["decision"]).iloc[row_keys.index(picked)])
    else:
        st.caption("Pick a guest user to decide on them, or decide on every filtered row below.")
    bulk = st.columns([2, 3, 2], vertical_alignment="bottom")
    bulk_choice = bulk[0].selectbox(
        "Bulk decision", list(decisions.DECISIONS), format_func=decisions.DECISIONS.get, key="review_bulk_choice"
    )
    bulk_comment = bulk[1].text_input("Bulk comment (optional)", key="review_bulk_comment")
    if bulk[2].button("Decide filtered rows…", key="review_bulk"):
        count = attempt(lambda: decisions.count_bulk(svc.store, me, campaign.id, rf), what="Bulk decision")
        if count is not None:
            st.session_state["review_bulk_pending"] = (campaign.id, rf, count, bulk_choice, bulk_comment)
    pending = st.session_state.get("review_bulk_pending")
    if pending and pending[:2] == (campaign.id, rf):  # the dialog stays while its own reruns run
        _confirm_bulk(*pending[2:])
    show_flashes("review_bulk")

with st.expander("Joined after the snapshot"):
    late = snapshot.joined_after(svc.store, campaign.id, campaigns.scope_filter(svc.store, campaign.scope))
    if late.total:
        st.caption(f"{late.total} guest users in scope joined after the snapshot; review them in the next campaign.")
        st.dataframe(late.rows, hide_index=True, column_order=["member", "user_email", "partner", "role", "first_seen"])
    else:
        st.caption("Nobody in scope joined after the snapshot.")

# -- sign-off, report, removal requests --------------------------------------------------------------------------
st.subheader("Sign-off")
if not campaign.closed:
    undecided = campaign.members - decided
    if me.is_admin:
        accept = st.checkbox(
            f"Sign off with the {undecided} undecided guest users listed in the report", disabled=not undecided
        )
        if st.button("Sign off", type="primary", key="review_close") and succeeded(
            lambda: campaigns.close(svc.store, me, campaign.id, accept_undecided=accept), what="Sign off"
        ):
            st.rerun()
    else:
        admin_only_notice("sign off a campaign")
else:
    st.success(
        f"Signed off by {campaign.closed_by} on {when(campaign.closed_at)}"
        + (f", with {campaign.undecided} undecided listed." if campaign.undecided else ".")
        + " The campaign is read-only."
    )
    st.caption(f"Attestation CSV: {campaign.csv_rows} rows, SHA-256 `{campaign.csv_sha256}`")
    csv_name, pdf_name = report.file_names(campaign.id)
    cols = st.columns(2)
    cols[0].download_button(  # built on click; "ignore": a rerun would drop the callable the click asks for
        "Download CSV",
        lambda: report.csv_bytes(svc.store, me, campaign.id),
        file_name=csv_name,
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="review_csv",
    )
    cols[1].download_button(
        "Download PDF",
        report.stored_pdf(svc.store, me, campaign.id),
        file_name=pdf_name,
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        key="review_pdf",
    )
    requests = remediation.requests(svc.store, me, campaign_id=campaign.id)
    st.subheader("Removal requests")
    if requests.empty:
        st.caption("No Remove decision: nothing to request.")
    else:
        counts = remediation.summary(requests)
        st.caption(" · ".join(f"{n} {status}" for status, n in counts.items()))
        st.dataframe(
            requests,
            hide_index=True,
            column_order=["partner", "member", "user_email", "status", "due_at", "done_at", "comment"],
            column_config={
                "partner": "Partner",
                "member": "Account member",
                "user_email": "Email",
                "status": "Status",
                "due_at": st.column_config.DatetimeColumn("Due", format="YYYY-MM-DD"),
                "done_at": st.column_config.DatetimeColumn("Removed at", format="YYYY-MM-DD"),
                "comment": "Comment",
            },
            key="review_requests",
        )
        for bc_id, partner in requests.groupby("partner_bc_id")["partner"].first().items():
            st.download_button(
                f"Removal list for {partner}",
                remediation.request_csv(svc.store, me, campaign.id, bc_id),
                file_name=f"removal-request-{campaign.id}-{bc_id}.csv",
                mime="text/csv",
                key=f"review_request_{bc_id}",
            )
