"""The page helpers' formatting: a column of instants shows as `when` shows each one."""

from __future__ import annotations

import pandas as pd

from ui.components import when, when_column


def test_a_column_of_instants_reads_as_each_instant_does():
    instants = pd.Series(
        [pd.Timestamp("2026-12-02 10:11:59", tz="Europe/Berlin"), None, pd.NaT, pd.Timestamp("2026-01-01", tz="UTC")],
        dtype="datetime64[us, UTC]",
    )
    shown = when_column(instants)
    assert list(shown) == ["2026-12-02 09:11 UTC", "never", "never", "2026-01-01 00:00 UTC"]
    pd.testing.assert_series_equal(shown, instants.map(when))
    never = pd.Series([None, None], dtype="datetime64[us, UTC]")  # partners never synced
    pd.testing.assert_series_equal(when_column(never), never.map(when))
