"""Log redaction: token-like values never reach a log line.

`RedactingFilter` rewrites each record's message (with its arguments merged in), exception text and
stack text. It masks: exact values registered with `register_secret()`; `Access-Token` headers; values
of secret-looking keys (`access_token`, `*_token`, `*secret*`, `auth_code`, `password`, and `code` when
it is not a plain number) in JSON, Python reprs, query strings, headers and key=value text; and long
hex/base64-like runs (32 characters or more of `A-Za-z0-9+_-`, mixing letters
and digits; `/` ends a run so that file paths in tracebacks stay readable). `redact()` is the same
function for text that is stored rather than logged (the audit log).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 6

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_pattern: re.Pattern[str] | None = None

_KEY = (
    r"(?:[\w-]*(?:access[_-]?token|refresh[_-]?token|api[_-]?token|secret|password|passwd)[\w-]*"
    r"|auth[_-]?code|code|token)"
)
_VALUE = r"(?:\[REDACTED\]|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s&,;\"'}\])]+)"
_PAIR = re.compile(
    rf"(?P<q>[\"']?)(?P<key>\b{_KEY})(?P=q)(?P<sep>\s*[:=]\s*)(?P<value>{_VALUE})",
    re.IGNORECASE,
)
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9+_-])[A-Za-z0-9+_-]{32,}={0,2}")


def register_secret(value: str | None) -> None:
    """Mask every later occurrence of this exact value in log lines (values under 6 chars are ignored)."""
    global _secrets_pattern
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(re.escape(item) for item in ordered))


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    if not text:
        return text
    pattern = _secrets_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _PAIR.sub(_mask_pair, text)
    return _LONG_RUN.sub(_mask_run, text)


def _mask_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    inner = value[1:-1] if quote else value
    if inner == REDACTED or (match.group("key").lower() in ("code", "token") and _harmless(inner)):
        return match.group(0)
    q = match.group("q")
    return f"{q}{match.group('key')}{q}{match.group('sep')}{quote}{REDACTED}{quote}"


def _harmless(value: str) -> bool:
    """Plain numbers (TikTok's `code: 40105`) and empty values are not credentials."""
    return value.lstrip("-").isdigit() or value in ("", "None", "null")


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    has_digit = any(ch.isdigit() for ch in run)
    has_alpha = any(ch.isalpha() for ch in run)
    return REDACTED if has_digit and has_alpha and not _snake_case_name(run) else run


def _snake_case_name(run: str) -> bool:
    """A name such as `017_member_counts_and_sort_indexes`: words of lowercase letters or of digits alone,
    joined by underscores. Random tokens mix cases and digits within their parts."""
    parts = run.split("_")
    return len(parts) > 2 and all(part.isdigit() or (part.isalpha() and part.islower()) for part in parts)


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so that its message, exception and stack text are redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pw_redacted", False):  # already rewritten by another handler's filter
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: keep the raw parts, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._pw_redacted = True
        return True


def configure_logging(level: str | int = "INFO") -> RedactingFilter:
    """Set the root level and put one RedactingFilter on every handler known now (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    shared = RedactingFilter()
    for handler in _all_handlers(root):
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(shared)
    return shared


def _all_handlers(root: logging.Logger) -> list[logging.Handler]:
    handlers = list(root.handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    return handlers
