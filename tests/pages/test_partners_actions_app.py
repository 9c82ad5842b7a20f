"""AppTest of the Partners page's More options for one partner: Connect opens the wizard with the partner
chosen, and Disconnect token (admin, confirmed in a dialog) revokes and shows the partner Disconnected."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import partners
from tests.support.onboarding import wait_all
from tests.support.sandbox import monitored_partners
from tests.support.services import connect_partner

SHELL = "../../ui/shell.py"


def _partners_page(bc_id: str) -> AppTest:
    at = AppTest.from_file(SHELL, default_timeout=30).run()
    at.selectbox(key="partner_choice").select(bc_id).run()
    return at


def test_connect_opens_the_wizard_with_the_partner_chosen(world, sandbox_session):
    info = monitored_partners(sandbox_session)[0]
    at = _partners_page(info.bc_id)
    at.button(key="connect_one").click().run()
    assert not at.exception
    assert [h.value for h in at.header][:1] == ["1. Choose partner"]
    assert at.selectbox(key="pw_connect_partner").value == info.bc_id


@pytest.mark.slow
def test_disconnect_token_asks_then_disconnects(fresh, sandbox):
    info = monitored_partners(sandbox)[0]
    assert connect_partner(fresh, sandbox, info.bc_id, info.monitor_email).ok
    wait_all(fresh)
    at = _partners_page(info.bc_id)
    at.button(key="disconnect_one").click().run()
    assert partners.get(fresh.store, info.bc_id).status == partners.ONBOARDED  # nothing before confirming
    at.button(key="disconnect_confirm").click().run()
    assert not at.exception
    assert any(f"Disconnected {partners.get(fresh.store, info.bc_id).name}" in s.value for s in at.success)
    assert partners.get(fresh.store, info.bc_id).status == partners.DISCONNECTED
    table = at.dataframe[0].value.set_index("bc_id")
    assert table.loc[info.bc_id, "status"] == partners.DISCONNECTED
