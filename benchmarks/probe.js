// The browser benchmarks' timer, injected before the page's own scripts (Playwright add_init_script).
//
// It never polls: a MutationObserver and the WebSocket's own events call `check`, and a measurement is a
// promise Python awaits. Times are performance.now() milliseconds (0 = navigation start).
//   input    the last trusted pointerdown/keydown/click before the rerun request left (the user's input)
//   sent     the BackMsg (rerun request) sent on Streamlit's WebSocket
//   request  the first BackMsg sent in the measurement (a navigation's: the new session's first rerun request)
//   first    the first ForwardMsg received after it;  last: the last one before the rerun finished
//   canvas   the grid's canvas drew the new first row's first cell (fillText; the table shows the new row)
//   repaint  the frame after the grid's accessible first row changed (the DOM follows the canvas)
//   done     the frame after the script finished (data-test-script-state left "running", or is "notRunning"
//            after the server's "script finished" reply) with no element still marked stale (data-stale="true")
//   finishedReply  the server's "script finished" reply received (the state is judged a frame after it)
// The measurement ends when both happened; a first row that has not changed 5 s after `done` counts as
// unchanged (its repaint is then `done`).
// A navigation is measured from 0 (the measurement is armed at document start, with no baseline row).
(() => {
  const bench = (window.__bench = { m: null });
  const now = () => performance.now();
  const GRACE_MS = 5000; // how long after the rerun finished a first row that did not change is awaited
  const afterFrame = (f) => requestAnimationFrame(() => setTimeout(() => f(now()), 0));

  const firstRowElement = () => {
    const grid = document.querySelector('[data-testid="stDataFrame"]');
    return grid ? grid.querySelectorAll('[role="row"]')[1] : undefined;
  };
  const firstRow = () => {
    const row = firstRowElement();
    return row ? row.textContent : null;
  };
  const firstCell = () => {
    const row = firstRowElement();
    const cell = row ? row.querySelector('[role="gridcell"]') : null;
    return cell ? cell.textContent : null;
  };

  // The grid draws on a canvas, and its accessible rows (above) follow the drawing by a few hundred ms: the
  // text the canvas draws is logged (while a measurement waits for its replies), and `canvas` is the first
  // time it drew the new first row's first cell.
  const MAX_DRAWS = 50000;
  const nativeFillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    const m = bench.m;
    if (m && m.first !== undefined && !m.finished && m.draws.length < MAX_DRAWS) m.draws.push([now(), String(text)]);
    return nativeFillText.call(this, text, ...rest);
  };
  // A column's format may add signs around the value the accessible cell holds (Automation's "#120" for 120).
  const drawnAs = (text, cell) => text === cell || (text.includes(cell) && /^\W*$/.test(text.replace(cell, '')));
  const canvasTime = (m) => {
    const cell = firstCell();
    const hit = cell === null || cell === '' ? undefined : m.draws.find(([, text]) => drawnAs(text, cell));
    return hit ? hit[0] : undefined;
  };
  const scriptState = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app ? app.getAttribute('data-test-script-state') : null;
  };

  const measure = (baseline, start) => {
    const m = { baseline, input: start, sent: start, frames: 0, bytes: 0, sawRunning: false, row: null, draws: [] };
    m.promise = new Promise((resolve) => (m.resolve = resolve));
    return m;
  };

  const finish = (m) => {
    if (m.finished) return;
    m.finished = true;
    clearTimeout(m.grace);
    m.unchanged = m.repaint === undefined;
    if (!m.unchanged) m.canvas = canvasTime(m);
    m.draws = m.draws.length;
    m.resolve();
  };

  const check = (records) => {
    const m = bench.m;
    if (!m || m.finished || m.sent === undefined) return;
    if (m.rowSeen === undefined) {
      const row = firstRow();
      if (row !== null && row !== m.baseline) {
        m.rowSeen = now();
        m.row = row;
        afterFrame((t) => {
          m.repaint = t;
          if (m.done !== undefined) finish(m);
        });
      }
    }
    if (m.doneSeen !== undefined) return;
    for (const r of records || []) {
      if (r.attributeName === 'data-test-script-state' && r.oldValue === 'running') m.sawRunning = true;
    }
    const state = scriptState();
    if (state === 'running') m.sawRunning = true;
    // A busy page may render a short rerun's "running" and "notRunning" in one commit, so the attribute never
    // shows "running"; the new first row, drawn from this rerun's replies, or the server's "script finished"
    // reply tells that it ran.
    const ran = m.sawRunning || m.rowSeen !== undefined || m.finishedSettled === true;
    if (ran && state === 'notRunning' && m.frames > 0 && !document.querySelector('[data-stale="true"]')) {
      m.doneSeen = now();
      afterFrame((t) => {
        m.done = t;
        // the grid may draw its rows after the rerun finished: wait for them, a while (one timer, no polling)
        if (m.repaint !== undefined) finish(m);
        else m.grace = setTimeout(() => finish(m), GRACE_MS);
      });
    }
  };

  for (const type of ['pointerdown', 'keydown', 'click']) {
    document.addEventListener(
      type,
      (e) => {
        if (bench.m && bench.m.sent === undefined && e.isTrusted) bench.m.lastInput = e.timeStamp;
      },
      true,
    );
  }

  // Whether a reply is the server's "script finished" (ForwardMsg field 6, a varint): its top-level fields read
  // from the protobuf's wire format (tag, then a varint or a length-delimited value).
  const SCRIPT_FINISHED = 6;
  const isScriptFinished = (data) => {
    if (!(data instanceof ArrayBuffer)) return false;
    const bytes = new Uint8Array(data);
    let at = 0;
    const varint = () => {
      let value = 0;
      for (let shift = 0; at < bytes.length && shift < 35; shift += 7) {
        const byte = bytes[at++];
        value += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) return value;
      }
      return -1;
    };
    while (at < bytes.length) {
      const tag = varint();
      if (tag < 0) return false;
      const [field, wire] = [Math.floor(tag / 8), tag % 8];
      if (wire === 0) {
        if (varint() < 0) return false;
        if (field === SCRIPT_FINISHED) return true;
      } else if (wire === 2) {
        const length = varint();
        if (length < 0) return false;
        at += length;
      } else {
        return false;
      }
    }
    return false;
  };
  bench.isScriptFinished = isScriptFinished; // for its test (tests/benchmarks/test_probe.py)

  const Native = window.WebSocket;
  const nativeSend = Native.prototype.send;
  Native.prototype.send = function (data) {
    const m = bench.m;
    if (m && m.request === undefined) m.request = now();
    if (m && m.sent === undefined) {
      m.sent = now();
      m.input = m.lastInput !== undefined ? m.lastInput : m.sent;
    }
    return nativeSend.call(this, data);
  };
  function Probed(...args) {
    const ws = new Native(...args);
    if (bench.socket === undefined) {
      bench.socket = { created: now() }; // the page's first WebSocket: the session's
      ws.addEventListener('open', () => (bench.socket.open = now()), { once: true });
    }
    ws.addEventListener('message', (ev) => {
      const m = bench.m;
      if (!m || m.sent === undefined || m.doneSeen !== undefined) return;
      const t = now();
      if (m.first === undefined) m.first = t;
      m.last = t;
      m.frames += 1;
      m.bytes += ev.data.byteLength || ev.data.size || ev.data.length || 0;
      if (m.finishedReply === undefined && isScriptFinished(ev.data)) {
        m.finishedReply = t;
        // the page dispatches a reply after it arrived (asynchronously): judge the script state a frame later
        afterFrame(() => {
          m.finishedSettled = true;
          check([]);
        });
      }
      check([]);
    });
    return ws;
  }
  Probed.prototype = Native.prototype;
  Object.assign(Probed, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Probed;

  bench.m = measure(null, 0); // the navigation
  bench.arm = () => {
    bench.m = measure(firstRow(), undefined);
    bench.m.sent = undefined;
    return bench.m.baseline;
  };
  // How the page itself loaded (a navigation): the document's response, the scripts fetched and the grid's chunk,
  // the host configuration fetched and the session's WebSocket created and open (the frontend started), and the
  // bytes that came over the network (a resource from the HTTP cache transfers 0).
  bench.timeline = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const scripts = res.filter((r) => r.name.endsWith('.js'));
    const grid = scripts.find((r) => /\/DataFrame\.[^/]*\.js$/.test(r.name));
    const hostConfig = res.find((r) => r.name.includes('/_stcore/host-config'));
    const socket = bench.socket || {};
    return {
      document: nav ? nav.responseEnd : null,
      dom_content_loaded: nav ? nav.domContentLoadedEventEnd : null,
      scripts: scripts.length,
      scripts_from_cache: scripts.filter((r) => r.transferSize === 0).length,
      grid_chunk: grid ? grid.responseEnd : null,
      host_config: hostConfig ? hostConfig.responseEnd : null,
      socket_created: socket.created === undefined ? null : socket.created,
      socket_open: socket.open === undefined ? null : socket.open,
      transfer_bytes: res.reduce((sum, r) => sum + (r.transferSize || 0), nav ? nav.transferSize || 0 : 0),
    };
  };
  bench.result = async () => {
    const m = bench.m;
    await m.promise;
    const { promise, resolve, ...figures } = m;
    return figures;
  };
  new MutationObserver(check).observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeOldValue: true,
    attributeFilter: ['data-test-script-state', 'data-stale'],
  });
})();
