"""AppTest of the Reviews page: an admin creates a campaign, an analyst decides by row and in bulk, the admin
signs off and gets the report; analysts cannot create or sign off; guests get no Reviews page, only the
removal requests of their own partner on Share credentials."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from benchmarks import datagen
from core.connect import workspace
from core.members.filters import MemberFilter
from core.reviews import campaigns, decisions, remediation
from core.security.roles import ANALYST, Actor, NotAllowed
from core.services import install
from tests.support.reviews import ADMIN_A
from tests.support.services import make_services

SHELL = "../../../ui/shell.py"  # relative to this file, as AppTest wants
ANALYST_EMAIL = "analyst@partnerwatch.local"


@pytest.fixture
def svc(tmp_path):
    services = make_services(tmp_path)
    services.store.close()
    services.store = datagen.synthetic_store(tmp_path / "pw.duckdb", 3, 20)
    yield services
    install(None)
    services.close()


def _app(user: str = ADMIN_A.email) -> AppTest:
    at = AppTest.from_file(SHELL, default_timeout=60).run()
    at.sidebar.selectbox(key="sandbox_user").set_value(user).run()
    at.switch_page("../pages/reviews.py").run()
    assert not at.exception
    return at


def test_a_whole_campaign_on_the_page(svc):
    at = _app()
    at.text_input[0].set_value("Q3 review")
    next(b for b in at.button if b.label == "Create campaign").click().run()
    assert not at.exception
    [campaign] = campaigns.list_campaigns(svc.store, ADMIN_A)
    assert campaign.members > 0
    assert any(f"{campaign.members} guest users frozen" in s.value for s in at.success)

    at = _app(ANALYST_EMAIL)  # the analyst reviews
    assert not any(b.label == "Create campaign" for b in at.button)
    assert not any(b.label == "Sign off" for b in at.button)
    at.multiselect(key="review_role").set_value(["ADMIN"]).run()
    at.selectbox(key="review_bulk_choice").set_value("keep").run()
    at.button(key="review_bulk").click().run()
    admin_rows = decisions.ReviewFilter(members=MemberFilter(roles=("ADMIN",)))
    admins = decisions.count_bulk(svc.store, ADMIN_A, campaign.id, admin_rows)
    assert any(f"**{admins}** guest users" in m.value for m in at.markdown)
    at.button(key="review_bulk_confirm").click().run()
    assert not at.exception
    progress = decisions.progress(svc.store, ADMIN_A, campaign.id)
    assert progress["keep"].sum() == admins

    at = _app()
    at.checkbox[0].check().run()
    at.button(key="review_close").click().run()
    assert not at.exception
    closed = campaigns.get(svc.store, ADMIN_A, campaign.id)
    assert closed.closed
    assert any(closed.csv_sha256 in c.value for c in at.caption)


def test_a_guest_sees_no_reviews_page_but_the_removals_asked_of_their_partner(svc):
    campaign = campaigns.create(svc.store, ADMIN_A, name="R", scope=campaigns.Scope())
    row = decisions.view(svc.store, ADMIN_A, campaign.id, decisions.ReviewFilter()).rows.iloc[0]
    decisions.decide(svc.store, ADMIN_A, campaign.id, row.partner_bc_id, row.member_key, decisions.REMOVE)
    campaigns.close(svc.store, ADMIN_A, campaign.id, accept_undecided=True)
    workspace.sandbox_users(svc.store)
    guest = "partner.admin@agency.example"
    workspace.invite(svc.store, ADMIN_A, guest, "guest", partner_bc_id=row.partner_bc_id)
    at = AppTest.from_file(SHELL, default_timeout=60).run()
    at.sidebar.selectbox(key="sandbox_user").set_value(guest).run()
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("../pages/reviews.py")
    assert any("1 people to remove" in w.value for w in at.warning)
    assert len(remediation.requests(svc.store, ADMIN_A)) == 1


def test_one_guest_user_is_decided_by_picking_them_without_the_table(svc):
    """The table's row selection has a keyboard-friendly twin: the searchable "Decide on one guest user" box."""
    campaign = campaigns.create(svc.store, ADMIN_A, name="R", scope=campaigns.Scope())
    at = _app(ANALYST_EMAIL)
    assert not any(f.key == "FormSubmitter:review_row-Save decision" for f in at.button)
    shown = decisions.view(svc.store, ADMIN_A, campaign.id, decisions.ReviewFilter(MemberFilter(sort="partner")))
    target = shown.rows.iloc[2]
    box = at.selectbox(key="review_pick")
    labels = box.options
    assert labels[2].startswith(f"{target.member} · {target.user_email} · ")  # the table's order
    box.set_value((target.partner_bc_id, target.member_key)).run()
    assert not at.exception
    at.radio[0].set_value(decisions.NEEDS_INFO)
    at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("review_row_comment_"))).input("ask")
    next(b for b in at.button if b.label == "Save decision").click().run()
    assert not at.exception
    decided = decisions.view(svc.store, ADMIN_A, campaign.id, decisions.ReviewFilter(decisions=("needs_info",)))
    assert len(decided.rows) == 1
    row = decided.rows.iloc[0]
    assert (row.partner_bc_id, row.member_key) == (target.partner_bc_id, target.member_key)
    assert (row.comment, row.decided_by) == ("ask", ANALYST_EMAIL)
    assert at.selectbox(key="review_pick").value == (row.partner_bc_id, row.member_key)  # still picked
    # the browser sends back the chosen label: a label that changed with the decision left it showing the old one
    assert at.selectbox(key="review_pick").options == labels


def test_an_analyst_can_neither_create_nor_sign_off_on_the_page_or_in_core(svc):
    campaign = campaigns.create(svc.store, ADMIN_A, name="R", scope=campaigns.Scope())
    at = _app(ANALYST_EMAIL)
    assert not any(e.label == "New campaign" for e in at.expander)
    assert not [b for b in at.button if b.label in ("Create campaign", "Sign off")]
    assert {"Only admins can create or sign off campaigns.", "Only admins can sign off a campaign."} <= {
        c.value for c in at.caption
    }
    analyst = Actor(ANALYST_EMAIL, ANALYST)
    with pytest.raises(NotAllowed):
        campaigns.create(svc.store, analyst, name="Mine", scope=campaigns.Scope())
    with pytest.raises(NotAllowed):
        campaigns.close(svc.store, analyst, campaign.id, accept_undecided=True)
    assert [(c.id, c.closed) for c in campaigns.list_campaigns(svc.store, ADMIN_A)] == [(campaign.id, False)]
