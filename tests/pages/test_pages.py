"""AppTest of the shell, Partners, Automation and Settings (no browser; the store is seeded directly)."""

from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import connection, partners
from core.tasks import jobs
from core.tasks.jobs import Counts

SHELL = "../../ui/shell.py"  # relative to this file, as AppTest wants


def _seed_partners(svc) -> None:
    now = datetime.now(UTC)
    with svc.store.write() as cur:
        partners.apply_partner_list(
            cur,
            [
                {"bc_id": "11", "bc_name": "Alpha Agency"},
                {"bc_id": "22", "bc_name": "Beta Media"},
                {"bc_id": "33", "bc_name": "Gamma Group"},
            ],
            now,
        )
        partners.replace_assets(
            cur,
            "22",
            [
                {"asset_id": "1", "asset_type": "ADVERTISER", "share_type": "SHARING"},
                {"asset_id": "2", "asset_type": "PIXEL", "share_type": "SHARED"},
            ],
            now,
        )
        partners.replace_assets(
            cur, "33", [{"asset_id": "3", "asset_type": "ADVERTISER", "share_type": "SHARING"}], now
        )
    with svc.store.write() as cur:
        connection.token_rejected(cur, "33", "40105")


def _app() -> AppTest:
    return AppTest.from_file(SHELL, default_timeout=30)


def test_partners_page_shows_statuses_counts_and_sandbox_notice(svc):
    _seed_partners(svc)
    at = _app().run()
    assert not at.exception
    assert at.title[0].value == "Partners"
    assert any("Sandbox mode" in w.value for w in at.sidebar.warning)
    table = at.dataframe[0].value.set_index("bc_id")
    assert table.loc["11", "status"] == partners.NOT_ELIGIBLE
    assert table.loc["22", "status"] == partners.PENDING_ONBOARDING
    assert table.loc["33", "status"] == partners.RECONNECT_REQUIRED
    assert (table.loc["22", "assets_shared_with_partner"], table.loc["22", "assets_shared_by_partner"]) == (1, 1)
    assert any("run **Check for updates**" in i.value for i in at.info)
    assert any("fills in once partners are onboarded" in c.value for c in at.caption)
    assert any("Connect your company's TikTok Business Center" in i.value for i in at.info)


def test_check_for_updates_without_integration_ends_not_completed_with_reason(svc):
    at = _app().run()
    at.button(key="check_all").click().run()
    assert not at.exception
    task = jobs.list_tasks(svc.store).iloc[0]
    assert svc.runner.wait(int(task["id"]), timeout=10) == jobs.NOT_COMPLETED
    assert "Connect your company's TikTok Business Center first" in jobs.list_tasks(svc.store).iloc[0]["error"]


def test_analyst_sees_no_settings_and_cannot_sync(svc):
    _seed_partners(svc)
    at = _app().run()
    at.sidebar.selectbox(key="sandbox_user").set_value("analyst@partnerwatch.local").run()
    assert not at.exception
    assert at.button(key="check_all").disabled
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("../pages/settings.py")  # not registered for analysts: a deep link cannot reach it
    assert jobs.list_tasks(svc.store).empty


def test_automation_page_lists_tasks_jobs_and_progress(svc):
    def work(ctx):
        ctx.add_total(2)
        job = ctx.job("Partner", "Beta Media")
        job.running()
        job.complete(Counts(added=3))
        ctx.advance()
        return Counts(added=3, removed=1)

    svc.runner.handle("Check for updates", work)
    task_id = svc.runner.enqueue(
        jobs.Request("Check for updates", "All partners", "admin@x", jobs.TRIGGER_MANUAL)
    ).task_id
    svc.runner.wait(task_id, timeout=10)
    at = _app().run()
    at.switch_page("../pages/automation.py").run()
    assert not at.exception
    assert at.title[0].value == "Automation"
    tasks = at.dataframe[0].value
    row = tasks[tasks["id"] == task_id].iloc[0]
    assert row["status"] == jobs.COMPLETED
    assert row["progress"] == 1.0
    assert (row["added"], row["removed"]) == (3, 1)
    assert row["trigger"] == "Manual"
    assert any(f"#{task_id}" in e.label for e in at.expander)
    assert at.dataframe[1].value.iloc[0]["target"] == "Beta Media"


def test_settings_shows_integration_and_starts_a_flow(svc):
    at = _app().run()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    assert "Settings" in [t.value for t in at.title]
    at.button(key="start_customer_connect").click().run()
    assert not at.exception
    started = at.session_state["pw_customer_flow"]
    assert started.start_url.startswith("/api/oauth/tiktok/start?state=")
    assert started.flow.purpose == "customer"


def test_settings_edits_the_personal_domains_behind_the_flag(svc):
    from core.members import flags
    from core.security import audit

    at = _app().run()
    at.switch_page("../pages/settings.py").run()
    area = next(t for t in at.text_area if t.label == "Personal e-mail domains")
    assert "gmail.com" in area.value
    area.set_value("gmail.com\n@Proton.me, web.de")
    next(b for b in at.button if b.label == "Save domains").click().run()
    assert not at.exception
    assert flags.personal_domains(svc.store) == ["gmail.com", "proton.me", "web.de"]
    assert not audit.query(svc.store, action="settings.personal_domains").empty
    area = next(t for t in at.text_area if t.label == "Personal e-mail domains")
    area.set_value("not a domain!")
    next(b for b in at.button if b.label == "Save domains").click().run()
    assert any("is not a domain name" in e.value for e in at.error)
    assert flags.personal_domains(svc.store) == ["gmail.com", "proton.me", "web.de"]


HALT = (
    "Halted by the mass-removal safeguard: this sync would remove 9 of 30 guest users of Beta Media (30%, more "
    "than 20%). Nothing was changed. If the removals are expected, raise the safeguard in Settings → Sync "
    "policy and run Check for updates again."
)


def test_partners_page_shows_the_safeguard_halt_reasons_in_full_and_never_synced(svc):
    _seed_partners(svc)
    with svc.store.write() as cur:
        connection.safeguard_halted(cur, "22", HALT)
    at = _app().run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("bc_id")
    assert table.loc["22", "status"] == partners.HALTED_SAFEGUARD  # its own state, not "Sync failed"
    assert any("1 Halted: safeguard" in m.value for m in at.markdown)
    assert set(table["last_sync"]) == {"never"}  # never synced: "never", not None
    assert any(i.value == f"**Beta Media** · Halted: safeguard: {HALT}" for i in at.info)  # in full
    assert any(w.value == "**Gamma Group** · Reconnect required: 40105" for w in at.warning)


def test_automation_shows_a_halted_task_its_number_and_its_reason_in_full(svc):
    def work(ctx):
        job = ctx.job("Partner", "Beta Media")
        job.running()
        job.fail(HALT, status=jobs.HALTED)
        raise jobs.TaskHalted(f"1 of 1 partners held back: Beta Media: {HALT}")

    svc.runner.handle("Check for updates", work)
    task_id = svc.runner.enqueue(
        jobs.Request("Check for updates", "Beta Media", "admin@x", jobs.TRIGGER_MANUAL)
    ).task_id
    assert svc.runner.wait(task_id, timeout=10) == jobs.HALTED
    at = _app().run()
    at.switch_page("../pages/automation.py").run()
    assert not at.exception
    row = at.dataframe[0].value.set_index("id").loc[task_id]
    assert row["status"] == "Halted: safeguard"
    assert list(at.dataframe[0].proto.column_order)[:2] == ["id", "status"]  # the number the toast names
    assert at.dataframe[1].value.iloc[0]["status"] == "Halted: safeguard"
    assert any(e.label == f"#{task_id} · Check for updates · Beta Media · Halted: safeguard" for e in at.expander)
    assert [i.value for i in at.info if HALT in i.value] == [f"1 of 1 partners held back: Beta Media: {HALT}"]


def _seed_tasks(svc, n: int) -> None:
    """`n` ended tasks (ids 1…n) with one partner job each (ids 1001…)."""
    now = datetime.now(UTC)
    with svc.store.write() as cur:
        cur.executemany(
            """INSERT INTO tasks (id, parent_id, kind, target, actor, trigger, status, created_at, updated_at)
               VALUES (?, ?, ?, ?, 'admin@x', 'Manual', 'Completed', ?, ?)""",
            [
                row
                for i in range(1, n + 1)
                for row in (
                    [i, None, "Check for updates", "All partners", now, now],
                    [1000 + i, i, "Partner", f"Agency {i}", now, now],
                )
            ],
        )


def test_automation_pages_tasks_and_reads_jobs_of_open_tasks_only(svc):
    _seed_tasks(svc, 52)
    at = _app().run()
    at.switch_page("../pages/automation.py").run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == list(range(52, 2, -1))  # 50 a page, newest first
    assert [e.label.split(" · ")[0] for e in at.expander] == ["#52", "#51", "#50", "#49", "#48"]
    assert len(at.dataframe) == 2  # the tasks and the newest task's jobs: the closed ones are not read
    assert list(at.dataframe[1].value["target"]) == ["Agency 52"]
    at.session_state["task_jobs_50"] = True  # open task 50's expander
    at.run()
    assert [list(d.value["target"]) for d in at.dataframe[1:]] == [["Agency 52"], ["Agency 50"]]
    at.pagination(key="tasks_page").set_value(2).run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == [2, 1]
    assert len(at.dataframe) == 1  # on page 2 no task is open at first
