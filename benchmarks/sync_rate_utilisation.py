"""sync_rate_utilisation: how close Check for updates gets to TikTok's rate limit.

A sandbox of 50 partners × 4,000 members runs in its own process (Ultimate tier: 50 QPS, 3,000 QPM, and
20 ms added to every call). The app onboards every eligible ADMIN-monitored partner through the OAuth
portal with the limits lifted (set-up, not measured), then the limits are applied, the app's token
bucket is set to 50 QPS and one full Check for updates runs (partner list, assets, members of every
onboarded partner, DB writes). Every response is recorded at the transport.

- ideal time = requests needed (responses other than 40100) ÷ 50 QPS; the headline is achieved ÷ ideal
  request rate (target ≥ 0.9);
- the share of calls answered 40100 (target ≤ 1%);
- speed-up over a sequential one-request-at-a-time client that retries 40100 after 0.6 s (Airbyte's
  legacy TikTok source): it replays an evenly spaced sample of the same requests against the same
  limits, and its request rate is compared with the app's.

Cost curve: 20k, 50k and 200k members to sync (5, 13 and 50 synced partners of 4,000 members; the sandbox
has two partners more, which the app cannot sync: partner 1 is not eligible, partner 2 is monitored by a
STANDARD user), the cost being the seconds of the Check for updates, beside the app's CPU seconds. The
headline is the 200k run: 52 partners, 50 of them synced.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.common import ROOT, load_average
from benchmarks.curves import Curve
from core import services as core_services
from core.connect import workspace
from core.services import Services
from core.sync import check_for_updates
from core.tasks import jobs
from core.tiktok.client import TikTokClient
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.transport import THROTTLED

NAME = "sync_rate_utilisation"
TARGET_RATIO = 0.9
TARGET_THROTTLED = 0.01
QPS, QPM, LATENCY_MS = 50, 3000, 20
PER_PARTNER, UNSYNCED_PARTNERS = 4000, 2
CURVE = Curve(
    "members",
    full=(20_000, 50_000, 200_000),
    quick=(4_000, 8_000, 16_000),
    tiny=(20, 40, 80),
    costs=("elapsed_s", "app_cpu_s"),
    headline=2,
)
SEQUENTIAL_SAMPLE = 1500  # requests replayed by the sequential client, at most (fewer below 200k members)
SEQUENTIAL_RETRY_S = 0.6
REDIRECT_URI = "http://localhost:8501/api/oauth/tiktok/callback"


@dataclass
class Sandbox:
    """The sandbox process (the helpers only need `base_url`)."""

    base_url: str
    proc: subprocess.Popen

    def control(self, name: str, **body: object) -> None:
        httpx.post(f"{self.base_url}/sandbox/control/{name}", json=body, timeout=30).raise_for_status()

    def world(self) -> dict:
        return httpx.get(f"{self.base_url}/sandbox/world", timeout=120).json()


def start_sandbox(partners: int, per_partner: int) -> Sandbox:
    from benchmarks.app_start import _free_port

    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(port),
            "--partners",
            str(partners),
            "--members",
            str(per_partner),
            "--qps",
            "100000",
            "--qpm",
            "100000000",
            "--redirect-uri",
            REDIRECT_URI,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    sandbox = Sandbox(f"http://127.0.0.1:{port}", proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(sandbox.base_url + "/sandbox/world", timeout=5)
            return sandbox
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the sandbox did not start")


@dataclass
class Recorder:
    """Every API response seen by the app's clients: (url, access token, envelope code), and when each
    request was handed to the transport and its response read (`perf_counter` seconds)."""

    calls: list[tuple[str, str, int]] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def transport(self) -> httpx.AsyncBaseTransport:
        calls, spans = self.calls, self.spans

        class Recording(httpx.AsyncHTTPTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                sent = time.perf_counter()
                response = await super().handle_async_request(request)
                body = await response.aread()
                await response.aclose()
                try:
                    code = int(json.loads(body).get("code", -1))
                except (ValueError, AttributeError):
                    code = -1
                calls.append((str(request.url), request.headers.get("Access-Token", ""), code))
                spans.append((sent, time.perf_counter()))
                return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

        return Recording()


def onboard(tmp: Path, sandbox: Sandbox) -> Services:
    """Customer and every eligible ADMIN-monitored partner connected and synced, limits lifted."""
    from tests.support.services import ADMIN_ACTOR, connect_customer, connect_partner, make_services

    svc = make_services(tmp, sandbox, PW_QPS="10000")
    workspace.sandbox_users(svc.store)
    if not connect_customer(svc, sandbox).ok:
        raise RuntimeError("could not connect the customer BC")
    _wait(svc, check_for_updates.request(svc, actor=ADMIN_ACTOR))
    for info in sandbox.world()["partners"]:
        if info["eligible"] and info["monitor_role"] == "ADMIN":
            if not connect_partner(svc, sandbox, info["bc_id"], info["monitor_email"]).ok:
                raise RuntimeError(f"could not connect partner {info['bc_id']}")
            for task_id in jobs.list_tasks(svc.store)["id"]:
                svc.runner.wait(int(task_id), timeout=600)
    return svc


def _wait(svc: Services, task_id: int) -> None:
    status = svc.runner.wait(task_id, timeout=3600)
    if status != jobs.COMPLETED:
        raise RuntimeError(f"Check for updates ended {status}")


def measured_sync(svc: Services, sandbox: Sandbox) -> tuple[float, float, Recorder]:
    """One Check for updates under the real limits; its start (`perf_counter`), seconds and the responses."""
    from tests.support.services import ADMIN_ACTOR

    sandbox.control("ratelimit", qps=QPS, qpm=QPM)
    sandbox.control("latency", ms=LATENCY_MS)
    svc.limiter = TokenBucket(QPS)
    recorder = Recorder()
    svc.client = lambda *, on_retry=None: TikTokClient(  # type: ignore[method-assign]
        svc.client_config(), svc.limiter, on_retry=on_retry, transport=recorder.transport()
    )
    time.sleep(1.5)  # the sandbox's buckets refill
    cpu0 = cpu_seconds("self"), cpu_seconds(str(sandbox.proc.pid))
    t0 = time.perf_counter()
    _wait(svc, check_for_updates.request(svc, actor=ADMIN_ACTOR))
    seconds = time.perf_counter() - t0
    recorder.cpu = {
        "app_cpu_s": round(cpu_seconds("self") - cpu0[0], 2),
        "sandbox_cpu_s": round(cpu_seconds(str(sandbox.proc.pid)) - cpu0[1], 2),
    }
    return t0, seconds, recorder


def cpu_seconds(pid: str) -> float:
    """User + system CPU seconds of a process so far (Linux `/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timeline(spans: list[tuple[float, float]], t0: float, seconds: float) -> dict[str, object]:
    """Where the time went: mean requests in flight, round trips, the request rate in each tenth of the run,
    and the time no request was in flight (bucket waits, event-loop stalls, writes)."""
    if not spans:
        return {}
    trips = sorted(end - sent for sent, end in spans)
    tenth = seconds / 10
    starts = [0] * 10
    for sent, _end in spans:
        starts[min(9, max(0, int((sent - t0) / tenth)))] += 1
    idle, busy_until = 0.0, t0
    for sent, end in sorted(spans):
        idle += max(0.0, sent - busy_until)
        busy_until = max(busy_until, end)
    idle += max(0.0, t0 + seconds - busy_until)
    return {
        "in_flight_mean": round(sum(trips) / seconds, 2),
        "round_trip_ms_p50": round(1000 * trips[len(trips) // 2], 1),
        "round_trip_ms_p95": round(1000 * trips[int(len(trips) * 0.95)], 1),
        "rate_by_tenth": [round(n / tenth, 1) for n in starts],
        "nothing_in_flight_s": round(idle, 2),
    }


def sequential_rate(calls: list[tuple[str, str, int]], sample: int) -> tuple[float, int]:
    """Requests per second of a one-at-a-time client (40100 → sleep 0.6 s, retry); and its 40100 count."""
    needed = [c for c in calls if c[2] != THROTTLED]
    step = max(1, len(needed) // sample)
    picked = needed[::step][:sample]
    throttled = 0
    time.sleep(1.5)
    with httpx.Client(timeout=30) as client:
        t0 = time.perf_counter()
        for url, token, _code in picked:
            while client.get(url, headers={"Access-Token": token}).json().get("code") == THROTTLED:
                throttled += 1
                time.sleep(SEQUENTIAL_RETRY_S)
        seconds = time.perf_counter() - t0
    return len(picked) / seconds, throttled


def shape(members: int) -> tuple[int, int]:
    """(partners in the sandbox, members per partner) for about `members` members to sync: 4,000 per partner
    and the two partners the app cannot sync."""
    per_partner = min(PER_PARTNER, members)
    return math.ceil(members / per_partner) + UNSYNCED_PARTNERS, per_partner


def run_at(members: int) -> dict[str, object]:
    partners, per_partner = shape(members)
    sample = max(30, min(SEQUENTIAL_SAMPLE, members // 130))
    sandbox = start_sandbox(partners, per_partner)
    try:
        with tempfile.TemporaryDirectory(prefix="pw-bench-sync-") as tmp:
            svc = onboard(Path(tmp), sandbox)
            try:
                t0, seconds, recorder = measured_sync(svc, sandbox)
            finally:
                core_services.install(None)
                svc.close()
        seq_rps, seq_throttled = sequential_rate(recorder.calls, sample)
    finally:
        sandbox.proc.terminate()
        sandbox.proc.wait(10)
    sent = len(recorder.calls)
    throttled = sum(1 for c in recorder.calls if c[2] == THROTTLED)
    needed = sent - throttled
    achieved = needed / seconds
    ratio = achieved / QPS
    return {
        "value": round(ratio, 3),
        "unit": "ratio",
        "target": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "qps_limit": QPS,
        "latency_ms": LATENCY_MS,
        "partners": partners,
        "members_per_partner": per_partner,
        "requests_needed": needed,
        "requests_sent": sent,
        "elapsed_s": round(seconds, 2),
        "ideal_s": round(needed / QPS, 2),
        "achieved_rps": round(achieved, 2),
        "throttled_share": round(throttled / sent, 4),
        "throttled_target": TARGET_THROTTLED,
        "throttled_met": throttled / sent <= TARGET_THROTTLED,
        "sequential_rps": round(seq_rps, 2),
        "sequential_sample": sample,
        "sequential_throttled": seq_throttled,
        "speedup_vs_sequential": round(achieved / seq_rps, 2),
        **timeline(recorder.spans, t0, seconds),
        **recorder.cpu,
        "load_average_1m": load_average(),
    }
