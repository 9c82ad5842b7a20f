"""TikTokError hierarchy: every documented code lands in the class that drives the client's action."""

from __future__ import annotations

import pickle

import pytest

from core.tiktok.errors import (
    AppCredentialsError,
    AuthCodeError,
    InvalidRequestError,
    PermissionDeniedError,
    RetriesExhaustedError,
    RetryableError,
    TikTokError,
    TokenRejectedError,
    TransportError,
    classify,
    error_for,
    is_success,
)

EXPECTED = {
    40100: RetryableError,
    40016: RetryableError,
    40133: RetryableError,
    40200: RetryableError,
    40201: RetryableError,
    40202: RetryableError,
    40700: RetryableError,
    50000: RetryableError,
    50002: RetryableError,
    51000: RetryableError,
    51004: RetryableError,
    51060: RetryableError,
    51099: RetryableError,
    60001: RetryableError,
    40102: TokenRejectedError,
    40104: TokenRejectedError,
    40105: TokenRejectedError,
    40001: PermissionDeniedError,
    40000: InvalidRequestError,
    40002: InvalidRequestError,
    40007: InvalidRequestError,
    40132: InvalidRequestError,
    51100: InvalidRequestError,
    12345: InvalidRequestError,
    -7: InvalidRequestError,
    40110: AuthCodeError,
    40101: AppCredentialsError,
    40113: AppCredentialsError,
}


@pytest.mark.parametrize(("code", "cls"), sorted(EXPECTED.items()))
def test_every_code_maps_to_its_class(code: int, cls: type[TikTokError]) -> None:
    err = error_for(code, "msg", "rid", "bc/get/")
    assert type(err) is cls
    assert (err.code, err.message, err.request_id, err.path) == (code, "msg", "rid", "bc/get/")
    assert err.retryable is (cls is RetryableError)


@pytest.mark.parametrize("code", [0, 20001])
def test_success_codes_are_not_errors(code: int) -> None:
    assert is_success(code)
    with pytest.raises(ValueError, match="success"):
        classify(code)


def test_str_names_code_path_message_and_request_id() -> None:
    err = error_for(40001, "No permission to perform the related operation.", "2024ABC", "bc/member/get/")
    assert str(err) == (
        "TikTok error 40001 on bc/member/get/: No permission to perform the related operation. (request_id 2024ABC)"
    )
    assert str(error_for(40002, "Parameter error", None, "")) == "TikTok error 40002: Parameter error"


def test_transport_error_is_retryable_with_code_minus_one() -> None:
    err = TransportError("HTTP 504 (12 bytes)", "bc/get/", http_status=504)
    assert isinstance(err, RetryableError)
    assert (err.code, err.http_status, err.request_id) == (-1, 504, None)
    assert str(err) == "TikTok request failed on bc/get/: HTTP 504 (12 bytes)"


def test_retries_exhausted_wraps_the_last_error() -> None:
    last = error_for(40100, "App reaches the QPS limit.", "rid9", "bc/partner/get/")
    err = RetriesExhaustedError(last, 6)
    assert not isinstance(err, RetryableError)
    assert (err.code, err.request_id, err.path, err.attempts, err.last_error) == (
        40100,
        "rid9",
        "bc/partner/get/",
        6,
        last,
    )
    assert str(err) == (
        "TikTok error 40100 on bc/partner/get/: gave up after 6 attempts: App reaches the QPS limit. (request_id rid9)"
    )


@pytest.mark.parametrize(
    "err",
    [
        error_for(40105, "revoked", "r1", "bc/get/"),
        TransportError("timed out", "bc/get/", http_status=None),
        RetriesExhaustedError(error_for(50000, "System error.", "r2", "bc/get/"), 3),
    ],
)
def test_errors_survive_pickling(err: TikTokError) -> None:
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own object
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert (copy.code, copy.path, copy.request_id) == (err.code, err.path, err.request_id)
