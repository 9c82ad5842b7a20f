"""Alert channels: Slack, Microsoft Teams, e-mail (SMTP with STARTTLS and login) and the signed JSON webhook.

Everything secret about a channel (webhook URL, SMTP password, signing key) is one JSON document encrypted
with the app's SecretBox in `alert_channels.secret_ct` (re-encrypted by rotate-key); `summary` holds only
what may be shown (kind, host, recipients). The generated signing key is returned once, by `create`. Every
change is audited with the channel's name and kind, never a secret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from core.alerts import signing
from core.alerts.ssrf import Guard
from core.errors import InvalidInput
from core.logging_setup import register_secret
from core.security import audit
from core.security.crypto import SecretBox
from core.security.roles import Actor, require_admin, require_reader
from core.store.database import Store

WEBHOOK, SLACK, TEAMS, EMAIL = "webhook", "slack", "teams", "email"
KINDS = {WEBHOOK: "Signed JSON webhook", SLACK: "Slack", TEAMS: "Microsoft Teams", EMAIL: "E-mail (SMTP)"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Channel:
    id: int
    name: str
    kind: str
    summary: str
    enabled: bool
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class Created:
    channel: Channel
    shown_once: dict[str, str]  # e.g. the webhook's signing key: show it now, it is never shown again


def _row(row: tuple[Any, ...]) -> Channel:
    return Channel(*row)


_COLUMNS = "id, name, kind, summary, enabled, created_by, created_at"


def list_all(store: Store, actor: Actor) -> list[Channel]:
    require_reader(actor, "see alert channels")
    return _all(store)


def _all(store: Store) -> list[Channel]:
    with store.read() as cur:
        return [_row(r) for r in cur.execute(f"SELECT {_COLUMNS} FROM alert_channels ORDER BY name").fetchall()]


def by_name(store: Store, name: str) -> Channel | None:
    with store.read() as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM alert_channels WHERE name = ?", [name]).fetchone()
    return _row(row) if row else None


def config(store: Store, box: SecretBox, channel_id: int) -> dict[str, Any]:
    """The channel's decrypted settings (for sending only); every secret value is registered for redaction."""
    with store.read() as cur:
        row = cur.execute("SELECT secret_ct FROM alert_channels WHERE id = ?", [channel_id]).fetchone()
    if row is None:
        raise InvalidInput(f"alert channel #{channel_id} does not exist")
    settings: dict[str, Any] = json.loads(box.decrypt(bytes(row[0])))
    _register(settings)
    return settings


def _register(settings: dict[str, Any]) -> None:
    for key in ("url", "password", "signing_key"):
        if settings.get(key):
            register_secret(str(settings[key]))
            if key == "url":
                register_secret(urlsplit(str(settings[key])).path)


def create(
    store: Store, box: SecretBox, guard: Guard, actor: Actor, *, name: str, kind: str, settings: dict[str, Any]
) -> Created:
    """Add a channel (admins; audited). `settings`: `url` (webhook, slack, teams) or `host`, `port`,
    `username`, `password`, `sender`, `recipients`, `verify_tls` (email)."""
    require_admin(actor, "add alert channels")
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidInput("A channel name is 1–63 letters, digits, spaces, dots, dashes or underscores.")
    if kind not in KINDS:
        raise InvalidInput(f"Unknown channel kind {kind!r}: choose one of {', '.join(KINDS)}.")
    if by_name(store, name) is not None:
        raise InvalidInput(f"There is already a channel named {name!r}.")
    clean, summary, shown = _validated(guard, kind, settings)
    _register(clean)
    with store.write() as cur:
        row = cur.execute(
            f"""INSERT INTO alert_channels (name, kind, secret_ct, summary, created_by, created_at)
                VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}""",
            [name, kind, box.encrypt(json.dumps(clean)), summary, actor.email, datetime.now(UTC)],
        ).fetchall()
        audit.record(store, actor=actor.email, action="alerts.channel_add", target=name, outcome="ok", detail=kind)
    return Created(_row(row[0]), shown)


def _validated(guard: Guard, kind: str, settings: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, str]]:
    if kind == EMAIL:
        return _email(guard, settings)
    url = str(settings.get("url") or "").strip()
    if not url:
        raise InvalidInput("Enter the webhook URL.")
    target = guard.check_url(url)
    clean: dict[str, Any] = {"url": url}
    shown: dict[str, str] = {}
    if kind == WEBHOOK:
        clean["signing_key"] = shown["signing_key"] = signing.new_key()
    return clean, f"{KINDS[kind]} to {target.scheme}://{target.host}:{target.port}", shown


def _email(guard: Guard, settings: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, str]]:
    host = str(settings.get("host") or "").strip()
    if not host:
        raise InvalidInput("Enter the SMTP server.")
    try:
        port = int(settings.get("port") or 587)
    except (TypeError, ValueError):
        raise InvalidInput("The SMTP port is a number (587 for STARTTLS).") from None
    recipients = [r.strip() for r in re.split(r"[,\s]+", str(settings.get("recipients") or "")) if r.strip()]
    sender = str(settings.get("sender") or "").strip()
    if not recipients or not all(_EMAIL.match(r) for r in recipients):
        raise InvalidInput("Enter one or more recipient e-mail addresses, separated by commas.")
    if not _EMAIL.match(sender):
        raise InvalidInput("Enter the sender's e-mail address.")
    guard.check_host(host, port)
    clean = {
        "host": host,
        "port": port,
        "username": str(settings.get("username") or "").strip(),
        "password": str(settings.get("password") or ""),
        "sender": sender,
        "recipients": recipients,
        "verify_tls": bool(settings.get("verify_tls", True)),
    }
    return clean, f"E-mail via {host}:{port} (STARTTLS) to {', '.join(recipients)}", {}


def set_enabled(store: Store, actor: Actor, channel_id: int, enabled: bool) -> None:
    require_admin(actor, "change alert channels")
    with store.write() as cur:
        row = cur.execute(
            "UPDATE alert_channels SET enabled = ? WHERE id = ? RETURNING name", [enabled, channel_id]
        ).fetchall()
        if not row:
            raise InvalidInput(f"alert channel #{channel_id} does not exist")
        action = "alerts.channel_enable" if enabled else "alerts.channel_disable"
        audit.record(store, actor=actor.email, action=action, target=row[0][0], outcome="ok")


def delete(store: Store, actor: Actor, channel_id: int) -> None:
    """Remove a channel and its undelivered deliveries (admins; audited)."""
    require_admin(actor, "remove alert channels")
    with store.write() as cur:
        row = cur.execute("DELETE FROM alert_channels WHERE id = ? RETURNING name", [channel_id]).fetchall()
        if not row:
            raise InvalidInput(f"alert channel #{channel_id} does not exist")
        cur.execute(
            """UPDATE alert_deliveries SET status = 'discarded', updated_at = ?
               WHERE channel_id = ? AND status = 'pending'""",
            [datetime.now(UTC), channel_id],
        )
        audit.record(store, actor=actor.email, action="alerts.channel_remove", target=row[0][0], outcome="ok")
