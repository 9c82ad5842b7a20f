"""Sign-in and roles: configuration → role, the no-access screen, pages by URL, and server-side refusals."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import partners
from core.config.errors import ConfigError
from core.config.settings import Settings
from core.connect import connections, vault, workspace
from core.security import audit, audit_export, keys
from core.security.crypto import SecretBox
from core.security.roles import ADMIN, ANALYST, GUEST, Actor, NotAllowed, RoleRules
from core.services import install
from core.sync import check_for_updates, safeguard, schedule
from core.tasks import jobs
from tests.support.services import make_services

SHELL = "../../ui/shell.py"
LIVE = {
    "PW_TIKTOK_APP_ID": "7300000000000000001",
    "PW_TIKTOK_APP_SECRET": "live-secret-for-tests",
    "PW_ROLE_ADMINS": "boss@acme.example",
    "PW_ROLE_ANALYSTS": "@acme.example",
}


def _settings(tmp_path: Path, toml: str = "", **env: str) -> Settings:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(toml)
    return Settings.load(env={"PW_DATA_DIR": str(tmp_path / "data"), **env}, secrets_file=secrets, root=tmp_path)


def test_roles_come_from_secrets_and_env_wins(tmp_path):
    toml = (
        '[partnerwatch.roles]\nadmins = ["Ann@Acme.example"]\nanalysts = ["@acme.example"]\n'
        'guests = ["@agency.example"]\n'
    )
    rules = _settings(tmp_path, toml).roles
    assert rules == RoleRules(("ann@acme.example",), ("@acme.example",), ("@agency.example",))
    assert rules.role_for("ANN@acme.example") == ADMIN  # exact address beats the domain
    assert rules.role_for("bob@acme.example") == ANALYST
    assert rules.role_for("kim@agency.example") == GUEST
    assert rules.role_for("eve@evil.example") is None
    assert rules.role_for("eve@sub.acme.example") is None  # a domain entry is that domain only
    env_rules = _settings(tmp_path, toml, PW_ROLE_ADMINS="x@acme.example, @corp.example").roles
    assert env_rules.admins == ("x@acme.example", "@corp.example")
    assert env_rules.role_for("ann@acme.example") == ANALYST


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('[partnerwatch.roles]\nadmins = "ann@acme.example"\n', {}, "must be a list"),
        ('[partnerwatch.roles]\nadmins = ["not-an-email"]\n', {}, "neither an e-mail address nor an @domain"),
        ('[partnerwatch.roles]\nowners = ["a@b.example"]\n', {}, "unknown keys"),
        ("", {"PW_ROLE_GUESTS": "a@b.example,@"}, "PW_ROLE_GUESTS"),
    ],
)
def test_bad_role_configuration_is_refused_with_the_variable_named(tmp_path, toml, env, message):
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, toml, **env)


@pytest.fixture
def live(tmp_path):
    svc = make_services(tmp_path, None, PW_ENCRYPTION_KEYS=SecretBox.generate_key(), **LIVE)
    assert not svc.settings.sandbox
    yield svc
    install(None)
    svc.close()


def test_live_roles_the_table_only_adds_guests(live):
    workspace.upsert(live.store, "kim@agency.example", GUEST, partner_bc_id="1")
    workspace.upsert(live.store, "mallory@elsewhere.example", ADMIN)  # not backed by configuration
    s = live.settings
    assert workspace.role_for(live.store, s, "boss@acme.example") == ADMIN
    assert workspace.role_for(live.store, s, "bob@acme.example") == ANALYST
    assert workspace.role_for(live.store, s, "kim@agency.example") == GUEST
    assert workspace.role_for(live.store, s, "mallory@elsewhere.example") is None
    assert workspace.role_for(live.store, s, "nobody@else.example") is None


def _app(email: str | None) -> AppTest:
    at = AppTest.from_file(SHELL, default_timeout=30)
    at.user = {"is_logged_in": email is not None, **({"email": email} if email else {})}
    return at.run()


def test_signed_out_user_sees_sign_in_only(live):
    at = _app(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe


def test_unknown_user_gets_a_clear_no_access_screen_and_is_audited(live):
    at = _app("eve@evil.example")
    assert not at.exception
    assert "has no access" in at.error[0].value
    assert [b.label for b in at.button] == ["Sign out"]
    at.switch_page("../pages/settings.py").run()  # a deep link still runs the shell's gate first
    assert "has no access" in at.error[0].value
    assert not at.dataframe
    assert "Settings" not in [t.value for t in at.title]
    entry = audit.query(live.store, action="sign_in").iloc[0]
    assert (entry["actor"], entry["outcome"]) == ("eve@evil.example", "refused")


def test_analyst_cannot_reach_admin_pages_by_url(live):
    at = _app("bob@acme.example")
    assert not at.exception
    assert at.title[0].value == "Partners"
    assert at.button(key="check_all").disabled
    for admin_page in ("../pages/settings.py", "../pages/connect.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(admin_page)
    at.switch_page("../pages/members.py").run()
    assert not at.exception
    assert audit.query(live.store, action="sign_in").iloc[0]["outcome"] == "ok"


def test_admin_settings_show_sync_policy_and_audit_log(live):
    at = _app("boss@acme.example")
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    headers = [h.value for h in at.header]
    assert "Sync policy" in headers
    assert "Audit log" in headers
    at.toggle(key="pw_schedule_enabled").set_value(True)
    at.time_input(key="pw_schedule_time").set_value(time(3, 30))
    at.number_input(key="pw_threshold").set_value(35.0)
    at.button[[b.label for b in at.button].index("Save sync policy")].click().run()
    assert not at.exception
    assert schedule.policy(live.store).enabled
    assert schedule.policy(live.store).at == time(3, 30)
    assert safeguard.threshold_pct(live.store) == 35.0
    assert set(audit.query(live.store, action="settings.*")["action"]) == {
        "settings.sync_policy",
        "settings.mass_removal_threshold",
    }
    table = at.dataframe[-1].value  # the audit log is the last table of Settings
    assert "settings.sync_policy" in set(table["action"])


def test_every_admin_action_is_refused_in_core_for_analysts_and_guests(live):
    owner = Actor("boss@acme.example", ADMIN)
    item = vault.add(
        live.store,
        live.box,
        owner,
        partner_bc_id=None,
        email="m@agency.example",
        phone="1",
        password="Pa55word-never-shown",
    )
    for who in (Actor("bob@acme.example", ANALYST), Actor("kim@agency.example", GUEST)):
        refusals = [
            lambda w=who: check_for_updates.request(live, actor=w),
            lambda w=who: connections.start(live, w, purpose=connections.CUSTOMER),
            lambda w=who: connections.disconnect_customer(live, w),
            lambda w=who: connections.disconnect_partner(live, w, "1"),
            lambda w=who: connections.choose_customer_bc(live, w, "1"),
            lambda w=who: schedule.set_policy(live.store, w, enabled=True, at=time(1, 0)),
            lambda w=who: safeguard.set_threshold_pct(live.store, w, 90),
            lambda w=who: keys.rotate_all(live.store, live.box, w),
            lambda w=who: vault.reveal(live.store, live.box, w, item.id),
            lambda w=who: audit_export.rows(live.store, w, audit_export.AuditFilter()),
            lambda w=who: workspace.invite(live.store, w, "x@acme.example", ADMIN),
        ]
        for attempt in refusals:
            with pytest.raises(NotAllowed):
                attempt()
    assert jobs.list_tasks(live.store).empty
    assert not schedule.policy(live.store).enabled
    assert safeguard.threshold_pct(live.store) == safeguard.DEFAULT_THRESHOLD_PCT
    assert list(audit.query(live.store, action="vault.reveal")["outcome"]) == ["refused", "refused"]


def test_live_role_form_offers_guest_only_and_says_where_roles_are_configured(live):
    with live.store.write() as cur:
        partners.apply_partner_list(cur, [{"bc_id": "7300000000000000009", "bc_name": "Agency"}], datetime.now(UTC))
    at = _app("boss@acme.example")
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    assert at.selectbox(key="pw_role_role").options == [GUEST]
    assert any("[partnerwatch.roles]" in c.value and "PW_ROLE_ADMINS" in c.value for c in at.caption)
    at.text_input(key="pw_role_email").set_value("Kim@Agency.example")
    at.selectbox(key="pw_role_partner").set_value("7300000000000000009")
    at.button[[b.label for b in at.button].index("Save role")].click().run()
    assert not at.exception
    kim = workspace.user(live.store, "kim@agency.example")
    assert (kim.role, kim.partner_bc_id) == (GUEST, "7300000000000000009")


def test_sandbox_role_form_offers_admin_and_analyst(tmp_path):
    svc = make_services(tmp_path, None)
    try:
        at = AppTest.from_file(SHELL, default_timeout=30).run()
        at.switch_page("../pages/settings.py").run()
        assert not at.exception
        assert at.selectbox(key="pw_role_role").options == [ADMIN, ANALYST]
        assert not any("[partnerwatch.roles]" in c.value for c in at.caption)
    finally:
        install(None)
        svc.close()
