"""A digest as each channel shows it; partner-controlled text (member and partner names, e-mails) is inert.

Slack: every partner-controlled string goes in `plain_text` blocks (Slack parses no mention, link or
formatting there) with `&`, `<`, `>` escaped as Slack asks; the notification text is PartnerWatch's own
words. Teams: HTML-escaped and every Markdown control character backslash-escaped. E-mail: plain text, and
the subject is PartnerWatch's own words (no partner text in a header).
"""

from __future__ import annotations

import html
import re
from typing import Any

_TEAMS_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_escape(text: str) -> str:
    return _TEAMS_MARKDOWN.sub(r"\\\1", html.escape(text, quote=True))


def _item_line(item: dict[str, Any]) -> str:
    where = item.get("partner") or item.get("partner_bc_id") or ""
    parts = [item.get("trigger_label") or "", item.get("subject") or "", item.get("detail") or ""]
    line = " · ".join(p for p in parts if p)
    return f"{line} ({where})" if where else line


def _headline(digest: dict[str, Any]) -> str:
    total = sum(digest.get("counts", {}).values())
    task = digest.get("task_id")
    return f"PartnerWatch: {total} alert{'s' if total != 1 else ''}" + (
        f" from Check for updates #{task}" if task else ""
    )


def _count_lines(digest: dict[str, Any]) -> list[str]:
    labels = digest.get("labels", {})
    return [f"{labels.get(k, k)}: {n}" for k, n in digest.get("counts", {}).items()]


def _more(digest: dict[str, Any]) -> str | None:
    omitted = int(digest.get("omitted") or 0)
    return f"…and {omitted} more" if omitted else None


def slack(digest: dict[str, Any]) -> dict[str, Any]:
    def plain(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "plain_text", "text": slack_escape(text)[:2900], "emoji": False}}

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _headline(digest), "emoji": False}},
        plain("\n".join(_count_lines(digest))),
    ]
    lines = [_item_line(item) for item in digest.get("items", [])]
    for start in range(0, len(lines), 10):  # a section holds 3,000 characters
        blocks.append(plain("\n".join(lines[start : start + 10])))
    more = _more(digest)
    if more:
        blocks.append(plain(more))
    blocks.append(
        {"type": "section", "text": {"type": "mrkdwn", "text": f"<{slack_escape(digest['link'])}|Open the changes>"}}
    )
    return {"text": _headline(digest), "blocks": blocks, "unfurl_links": False}


def teams(digest: dict[str, Any]) -> dict[str, Any]:
    lines = [teams_escape(line) for line in _count_lines(digest)]
    items = [f"- {teams_escape(_item_line(item))}" for item in digest.get("items", [])]
    more = _more(digest)
    body = "\n\n".join(["  \n".join(lines), "\n".join(items), teams_escape(more) if more else ""]).strip()
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": _headline(digest),
        "title": _headline(digest),
        "text": body,
        "potentialAction": [
            {"@type": "OpenUri", "name": "Open the changes", "targets": [{"os": "default", "uri": digest["link"]}]}
        ],
    }


def email(digest: dict[str, Any]) -> tuple[str, str]:
    """(subject, plain-text body)."""
    lines = [*_count_lines(digest), "", *(_item_line(item) for item in digest.get("items", []))]
    more = _more(digest)
    if more:
        lines.append(more)
    lines += ["", f"Open the changes: {digest['link']}"]
    return _headline(digest), "\n".join(lines)


def test_digest(channel_name: str, link: str) -> dict[str, Any]:
    """The message a channel's Send test sends."""
    return {
        "type": "partnerwatch.alerts.test",
        "version": 1,
        "task_id": None,
        "summary": f"Test message for the alert channel {channel_name}",
        "counts": {"test": 1},
        "labels": {"test": "Test message"},
        "items": [{"trigger_label": "Test message", "subject": f"Channel {channel_name} works", "detail": ""}],
        "omitted": 0,
        "link": link,
    }
