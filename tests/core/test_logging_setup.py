"""RedactingFilter: every token-like pattern is masked before a handler writes the line."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator

import pytest

from core.logging_setup import REDACTED, RedactingFilter, configure_logging, redact, register_secret

HEX40 = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"


@pytest.fixture
def stream_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through a real StreamHandler carrying the filter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction.stream")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


@pytest.fixture
def redacting_caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    installed = RedactingFilter()
    caplog.handler.addFilter(installed)
    yield caplog
    caplog.handler.removeFilter(installed)


@pytest.mark.parametrize(
    ("message", "secret", "kept"),
    [
        ("Access-Token: act.2f9e1c7d8b secret header", "act.2f9e1c7d8b", "Access-Token: "),
        (
            "headers={'Access-Token': 'act.zz91', 'Content-Type': 'application/json'}",
            "act.zz91",
            "'Content-Type': 'application/json'",
        ),
        ('body {"access_token": "act.9a8b7c", "scope": [1, 2]}', "act.9a8b7c", '"scope": [1, 2]'),
        ('{"app_id": "7100", "secret": "s3cr3t-value"}', "s3cr3t-value", '"app_id": "7100"'),
        ('{"auth_code": "ac-998877", "state": "x"}', "ac-998877", '"state": "x"'),
        ('{"password":"hunter2!"}', "hunter2!", '"password":'),
        ('{"code": "oauth-code-abc"}', "oauth-code-abc", '"code": '),
        ("GET /callback?code=QwErTy123&state=ok HTTP/1.1", "QwErTy123", "&state=ok HTTP/1.1"),
        ("POST /token?app_id=7100&secret=topsecret9&auth_code=zzz111", "topsecret9", "app_id=7100"),
        ("login password=hunter2 user=ann", "hunter2", "user=ann"),
        ("cfg app_secret = 'quoted value' done", "quoted value", "done"),
        (f"token looks like {HEX40} here", HEX40, "here"),
        ("fernet gAAAAABlZ3x9Yk1mX0lqN2Z4c2RmZ2hqa2wxMjM0NTY3ODk= end", "gAAAAABlZ3x9", "end"),
    ],
)
def test_patterns_via_caplog(redacting_caplog: pytest.LogCaptureFixture, message: str, secret: str, kept: str) -> None:
    logging.getLogger("test.redaction").info(message)
    text = redacting_caplog.records[-1].getMessage()
    assert secret not in text
    assert REDACTED in text
    assert kept in text
    assert secret not in redacting_caplog.text


def test_registered_secret_via_args(redacting_caplog: pytest.LogCaptureFixture) -> None:
    register_secret("pa$$-Word-42")
    logging.getLogger("test.redaction").warning("vault reveal %s for %s (%d)", "pa$$-Word-42", "ann", 3)
    record = redacting_caplog.records[-1]
    assert record.getMessage() == f"vault reveal {REDACTED} for ann (3)"
    assert record.args is None


def test_numeric_codes_and_ordinary_text_kept() -> None:
    text = (
        '{"code": 40105, "message": "Access token is invalid", "request_id": "2026050112"} '
        "bc_id=7312345678901234567 token_id=12 code=0 /open_api/v1.3/bc/partner/asset/get/"
    )
    assert redact(text) == text


def test_snake_case_names_with_numbers_kept() -> None:
    """A migration's or a setting's name is not a credential: the operator must read which migration ran."""
    text = "Applied migration 017_member_counts_and_sort_indexes to DuckDBStore; pw_duckdb_memory_mib_at_rest_2 set"
    assert redact(text) == text


def test_tokens_with_underscores_still_redacted() -> None:
    for token in ("Zx9_kQ2mW8vR_tY7uI1oP3aS5dF6gH4jK", "abc_def_ghi_jkl_mno_pqr_stu_vwx_yz_Q1", "7f3a_9b2c_" * 4):
        assert redact(f"value {token} end") == f"value {REDACTED} end"


def test_short_registered_values_ignored() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact("abc abcdef") == "abc abcdef"


def test_real_handler_writes_redacted_line(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = stream_logger
    logger.info(
        "calling %s with %r",
        "/oauth2/access_token/",
        {"app_id": "7100", "secret": "sandbox-secretish", "auth_code": "c0de-XYZ"},
    )
    line = buffer.getvalue()
    assert "sandbox-secretish" not in line
    assert "c0de-XYZ" not in line
    assert line.startswith("INFO calling /oauth2/access_token/ with {'app_id': '7100'")


def test_exception_text_redacted(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = stream_logger
    try:
        raise RuntimeError(f"request failed: Access-Token: {HEX40}")
    except RuntimeError:
        logger.exception("sync failed")
    output = buffer.getvalue()
    assert "RuntimeError: request failed" in output
    assert HEX40 not in output
    assert "Traceback" in output


def test_stack_info_redacted(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = stream_logger
    register_secret("stack-visible-secret")
    logger.info("with stack-visible-secret", stack_info=True)  # the stack quotes this very line
    output = buffer.getvalue()
    assert "Stack (most recent call last)" in output
    assert "test_logging_setup.py" in output
    assert "stack-visible-secret" not in output


def test_broken_format_string_still_redacted(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = stream_logger
    logger.info("bad %d format", f"password={HEX40}")
    output = buffer.getvalue()
    assert HEX40 not in output
    assert "bad %d format" in output


def test_register_secret_thread_safe() -> None:
    values = [f"concurrent-secret-{n:03d}" for n in range(64)]
    barrier = threading.Barrier(16)

    def worker(chunk: list[str]) -> None:
        barrier.wait()
        for value in chunk:
            register_secret(value)
            redact(value)

    threads = [threading.Thread(target=worker, args=(values[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = redact(" ".join(values))
    assert all(value not in text for value in values)
    assert text.count(REDACTED) == 64


def test_configure_logging_is_idempotent() -> None:
    root = logging.getLogger()
    extra = logging.StreamHandler(io.StringIO())
    root.addHandler(extra)
    previous_level = root.level
    try:
        configure_logging("DEBUG")
        configure_logging("INFO")
        assert root.level == logging.INFO
        for handler in root.handlers:
            assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logging.getLogger("test.redaction.root").warning("auth_code=leaky-code-1")
        assert extra.stream.getvalue().strip().endswith(f"auth_code={REDACTED}")  # type: ignore[attr-defined]
    finally:
        root.removeHandler(extra)
        root.setLevel(previous_level)
        for handler in root.handlers:
            for existing in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(existing)


def test_redaction_is_idempotent() -> None:
    text = f'auth_code=abc123 password: "zz" {{"secret": "q"}} Access-Token: {HEX40}'
    once = redact(text)
    assert redact(once) == once
    assert once == (f'auth_code={REDACTED} password: "{REDACTED}" {{"secret": "{REDACTED}"}} Access-Token: {REDACTED}')
