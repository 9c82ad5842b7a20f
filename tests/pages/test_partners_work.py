"""The Partners page counts the guest users (a scan of every member) once per data version, for every session, and
counts them again once a sync changed them; its chart is the one st.bar_chart builds, drawn without Altair."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import partners
from core.tasks import jobs
from tests.support.onboarding import run_sync
from tests.support.pages import SHELL
from tests.support.sandbox import control, monitored_partners
from ui.components import CHART_NAMES


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """One entry per scan of the members for the Partners page's counts."""
    scans: list[int] = []
    real = partners.member_counts

    def spy(store):
        scans.append(1)
        return real(store)

    monkeypatch.setattr(partners, "member_counts", spy)
    return scans


def _partners_page() -> AppTest:
    at = AppTest.from_file(SHELL, default_timeout=30).run()  # `/` serves Partners
    assert not at.exception, at.exception
    return at


def _guest_users(at: AppTest, bc_id: str) -> int:
    table = at.dataframe[0].value  # the partners table, the page's only one
    return int(table.loc[table["bc_id"] == bc_id, "guest_users"].iloc[0])


def test_the_guest_users_are_counted_once_per_data_version_for_every_session(onboarded, sandbox, counted):
    bc_id = monitored_partners(sandbox)[0].bc_id
    first = _partners_page()
    before = _guest_users(first, bc_id)
    assert len(counted) == 1  # the table and the chart share one scan
    first.run()
    other = _partners_page()  # another person's session
    assert len(counted) == 1
    assert _guest_users(other, bc_id) == before

    control(sandbox, "members/add", bc_id=bc_id, user_email="late@agency.example", user_name="Late")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    first.run()
    assert len(counted) == 2  # a sync landed: counted again, and it shows
    assert _guest_users(first, bc_id) == before + 1


def _chart(at: AppTest):
    found = [node for node in _walk(at.main) if getattr(node, "type", None) == "vega_lite_chart"]
    assert len(found) == 1
    return found[0].proto


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _rows(arrow_bytes: bytes) -> list[dict]:
    return pa.ipc.open_stream(arrow_bytes).read_all().to_pylist()


def _bar_chart_of(frame: pd.DataFrame) -> AppTest:
    def app(frame):  # no annotations: AppTest runs the function's source alone
        import streamlit as st

        st.bar_chart(frame, x="Partner", y="Guest users", color="TikTok role", horizontal=True)

    return AppTest.from_function(app, args=(frame,)).run()


def test_the_chart_is_the_one_st_bar_chart_builds(onboarded, sandbox):
    page = _chart(_partners_page())
    frame = partners.members_by_role(onboarded.store).rename(columns=CHART_NAMES)
    built = _chart(_bar_chart_of(frame))
    shown, expected = json.loads(page.spec), json.loads(built.spec)
    assert expected.pop("data") == {"name": built.datasets[0].name}  # st.bar_chart names its data; the page sends it
    assert shown == expected
    assert _rows(page.data.data) == _rows(built.datasets[0].data.data) == frame.to_dict("records")
    assert (page.theme, page.use_container_width) == (built.theme, built.use_container_width)
