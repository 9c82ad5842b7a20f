"""A guest user (the partner's admin) adds the monitor account to the vault and shares it; sees no partner data."""

from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import partners
from core.connect import vault, workspace
from core.services import install
from tests.support.services import ADMIN_ACTOR, make_services

SHELL = "../../ui/shell.py"
GUEST = "owner@agency.example"


@pytest.fixture
def svc(tmp_path):
    services = make_services(tmp_path)
    now = datetime.now(UTC)
    with services.store.write() as cur:
        partners.apply_partner_list(cur, [{"bc_id": "22", "bc_name": "Beta Media"}], now)
        partners.replace_assets(
            cur, "22", [{"asset_id": "1", "asset_type": "ADVERTISER", "share_type": "SHARING"}], now
        )
    workspace.sandbox_users(services.store)
    workspace.invite(services.store, ADMIN_ACTOR, GUEST, "guest", partner_bc_id="22")
    yield services
    install(None)
    services.close()


def _as_guest() -> AppTest:
    at = AppTest.from_file(SHELL, default_timeout=30).run()
    at.sidebar.selectbox(key="sandbox_user").set_value(GUEST).run()
    return at


def test_guest_adds_and_shares_the_monitor_account(svc):
    at = _as_guest()
    assert not at.exception
    assert at.title[0].value == "Share your monitor account"
    assert any("Beta Media" in m.value for m in at.markdown)
    fields = {t.label: t for t in at.text_input}
    fields["Monitor account e-mail"].set_value("monitor@beta.example")
    fields["Monitor account password"].set_value("s3cret-pass")
    next(b for b in at.button if b.label == "Add to the vault").click().run()
    assert not at.exception
    [item] = vault.list_items(svc.store, partner_bc_id="22")
    assert item.created_by == GUEST
    at.selectbox(key=f"pw_guest_share_to_{item.id}").set_value(ADMIN_ACTOR.email).run()
    at.button(key=f"pw_guest_share_{item.id}").click().run()
    assert ADMIN_ACTOR.email in vault.get(svc.store, item.id).shared_with
    creds = vault.reveal(svc.store, svc.box, ADMIN_ACTOR, item.id)
    assert (creds.email, creds.password) == ("monitor@beta.example", "s3cret-pass")
    assert not any("s3cret-pass" in str(e.value) for e in at.markdown)


def test_guest_cannot_reach_partner_pages(svc):
    at = _as_guest()
    for target in ("../pages/partners.py", "../pages/members.py", "../pages/settings.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(target)
