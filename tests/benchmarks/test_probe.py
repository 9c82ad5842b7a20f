"""The browser benchmarks' page-side timer (benchmarks/probe.js) in Chromium: a rerun's end is read from the wire.

A fast rerun can show "running" and "notRunning" in one React commit, so the script-state attribute never says
"running"; when it also leaves the first row as it was, only the server's script_finished message tells that the
rerun ran (without it a measurement waited for ever: a concurrent_sessions smoke run once timed out so)."""

from __future__ import annotations

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.browser import PROBE

pytestmark = pytest.mark.browser

APP = '<div data-testid="stApp" data-test-script-state="notRunning"><p>no grid</p></div>'


def _frames(*messages: ForwardMsg) -> list[list[int]]:
    return [list(m.SerializeToString()) for m in messages]


def _script_finished() -> ForwardMsg:
    msg = ForwardMsg(hash="f" * 32, script_finished=ForwardMsg.FINISHED_SUCCESSFULLY)
    msg.metadata.delta_path.extend([0, 1, 2])
    return msg


def _delta() -> ForwardMsg:
    msg = ForwardMsg(hash="d" * 32)
    msg.delta.new_element.markdown.body = "x" * 300  # a length past one varint byte
    msg.metadata.delta_path.extend([0, 4])
    return msg


def _new_session() -> ForwardMsg:
    msg = ForwardMsg(hash="n" * 32)
    msg.new_session.page_script_hash = "members"
    return msg


@pytest.fixture
def probed(page):
    page.add_init_script(PROBE)
    page.goto("about:blank")
    page.set_content(APP)
    return page


def test_only_the_script_finished_message_is_read_as_the_runs_end(probed) -> None:
    seen = probed.evaluate(
        "frames => frames.map(f => window.__bench.isScriptFinished(new Uint8Array(f).buffer))",
        _frames(_script_finished(), _delta(), _new_session()),
    )
    assert seen == [True, False, False]
    assert probed.evaluate("() => window.__bench.isScriptFinished('text')") is False
    assert probed.evaluate("() => window.__bench.isScriptFinished(new Uint8Array([0xff, 0xff]).buffer)") is False


_RERUN = """async frames => {
  window.__bench.arm();
  const ws = new WebSocket('ws://127.0.0.1:9/');
  try { ws.send('rerun'); } catch (e) { /* not open: the request's time is what counts */ }
  for (const f of frames) ws.dispatchEvent(new MessageEvent('message', { data: new Uint8Array(f).buffer }));
  return await Promise.race([
    window.__bench.result(),
    new Promise(resolve => setTimeout(() => resolve('no result'), 8000)),
  ]);
}"""


def test_a_rerun_never_seen_running_that_left_the_first_row_ends_at_its_script_finished(probed) -> None:
    result = probed.evaluate(_RERUN, _frames(_new_session(), _delta(), _script_finished()))
    assert result != "no result"
    assert result["finishedSettled"] is True
    assert result["finishedReply"] >= result["first"]
    assert result["sawRunning"] is False
    assert result["unchanged"] is True  # no first row changed: finished after the grace period
    assert result["frames"] == 3
    assert result["sent"] <= result["first"] <= result["last"] <= result["done"]


def test_a_rerun_is_not_over_before_its_script_finished(probed) -> None:
    result = probed.evaluate(_RERUN.replace("8000", "1500"), _frames(_new_session(), _delta()))
    assert result == "no result"
