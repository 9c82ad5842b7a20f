"""Sending one message to one channel, and reading the receiver's answer.

Slack, Teams and the signed webhook are HTTP POSTs of JSON written here with httpx: Apprise, used for e-mail,
fixes Slack's and Teams' hosts (hooks.slack.com, *.webhook.office.com), so it can neither honour the SSRF
guard's vetted address nor reach a local receiver. Each request connects to the address the guard approved
(SNI and Host stay the URL's host), follows no redirect and carries the delivery's `Idempotency-Key`.
E-mail goes through Apprise's SMTP plugin (STARTTLS, login), after the guard vetted the SMTP server.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from core.alerts import render, signing
from core.alerts.channels import EMAIL, SLACK, TEAMS, WEBHOOK
from core.alerts.ssrf import Guard, TargetRefused
from core.logging_setup import redact

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True)
class Result:
    ok: bool
    answer: str  # what the receiver said, for people (no secret)
    status: int | None = None
    retry_after_s: float | None = None


def send(kind: str, settings: dict[str, Any], digest: dict[str, Any], *, key: str, guard: Guard) -> Result:
    try:
        if kind == EMAIL:
            return _email(settings, digest, key, guard)
        body = _body(kind, digest)
        headers = {"Content-Type": "application/json", signing.IDEMPOTENCY_HEADER: key}
        if kind == WEBHOOK:
            headers.update(signing.headers(settings["signing_key"], body, key))
        return _post(settings["url"], body, headers, guard)
    except TargetRefused as exc:
        return Result(False, f"Refused: {exc}")


def _body(kind: str, digest: dict[str, Any]) -> bytes:
    if kind == SLACK:
        message = render.slack(digest)
    elif kind == TEAMS:
        message = render.teams(digest)
    elif kind == WEBHOOK:
        message = digest
    else:
        raise ValueError(f"unknown channel kind {kind!r}")
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building it (loading the CA bundle) costs far more CPU than a POST."""
    return httpx.create_ssl_context()


def _post(url: str, body: bytes, headers: dict[str, str], guard: Guard) -> Result:
    target = guard.check_url(url)
    parts = urlsplit(url.strip())
    ip = f"[{target.ip}]" if ":" in target.ip else target.ip
    pinned = urlunsplit((parts.scheme, f"{ip}:{target.port}", parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    host_header = target.host if parts.port is None else f"{target.host}:{parts.port}"
    request = httpx.Request(
        "POST",
        pinned,
        content=body,
        headers={**headers, "Host": host_header, "User-Agent": "PartnerWatch-Alerts/1"},
        extensions=extensions,
    )
    try:
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, verify=_tls()) as client:
            response = client.send(request)
    except httpx.HTTPError as exc:
        return Result(False, f"No answer from {target.host}: {type(exc).__name__}")
    text = redact(response.text[:200].strip())
    answer = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    if 200 <= response.status_code < 300:
        return Result(True, answer, response.status_code)
    retry_after = _retry_after(response.headers.get("Retry-After")) if response.status_code in (429, 503) else None
    return Result(False, answer, response.status_code, retry_after)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _email(settings: dict[str, Any], digest: dict[str, Any], key: str, guard: Guard) -> Result:
    import apprise  # imported on first use: it loads every plugin (~0.3 s)

    target = guard.check_host(settings["host"], int(settings["port"]))
    subject, body = render.email(digest)
    user = quote(settings.get("username") or "", safe="")
    password = quote(settings.get("password") or "", safe="")
    login = f"{user}:{password}@" if user else ""
    sender = settings["sender"]
    domain = sender.rpartition("@")[2]
    query = {
        "smtp": target.host,
        "mode": "starttls",
        "from": sender,
        "to": ",".join(settings["recipients"]),
        "verify": "yes" if settings.get("verify_tls", True) else "no",
        "+X-PartnerWatch-Delivery": key,
    }
    args = "&".join(f"{quote(k, safe='+')}={quote(str(v), safe='@,')}" for k, v in query.items())
    url = f"mailto://{login}{domain}:{target.port}?{args}"
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return Result(False, "The e-mail settings are not usable (check the server, port and addresses).")
    started = time.monotonic()
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]  # apprise's own type hints omit it
        ok = notifier.notify(title=subject, body=body, body_format=apprise.NotifyFormat.TEXT)
    if ok:
        return Result(True, f"Accepted by {target.host}:{target.port} in {time.monotonic() - started:.1f} s")
    said = redact(" ".join(captured.getvalue().split())[-300:])
    return Result(False, f"{target.host}:{target.port} did not accept it: {said or 'no reason given'}")
