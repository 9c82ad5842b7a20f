"""TikTok API errors: one exception class per client action, keyed by the envelope's `code`.

Every TikTok response is HTTP 200 with `{code, message, request_id, data}`; `code` 0 and 20001 (partial
success) are success and anything else maps to one of the classes below (see the wire spec §4):

- `RetryableError`: throttling (40100, 40016, 40133), task/RPC hiccups and system errors; back off and retry.
- `TransportError` (retryable, code -1): the request never got a well-formed envelope back (timeout,
  connection error, HTTP non-200, non-JSON or malformed JSON body).
- `TokenRejectedError`: the access token is expired, missing or revoked; the connection needs a reconnect.
- `PermissionDeniedError`: the token's user lacks the BC role (40001).
- `InvalidRequestError`: bad parameters, missing objects and any unknown code.
- `AuthCodeError` / `AppCredentialsError`: OAuth code exchange failures.
- `RetriesExhaustedError`: the last retryable error once the client gave up, with the attempt count.
- `ResponseShapeError` (code -2, not retried): a successful listing whose items lack a required field or
  carry one of the wrong type (a float id, a number where a name belongs); names the item and the field.
"""

from __future__ import annotations

from typing import ClassVar

from core.errors import UserError

SUCCESS_CODES = frozenset({0, 20001})
TRANSPORT_CODE = -1
SHAPE_CODE = -2

_RETRYABLE_CODES = frozenset({40100, 40016, 40133, 40200, 40201, 40202, 40700, 50000, 50002, 60001})
_RETRYABLE_RANGE = range(51000, 51100)
_TOKEN_REJECTED_CODES = frozenset({40102, 40104, 40105})
_APP_CREDENTIALS_CODES = frozenset({40101, 40113})


class TikTokError(UserError):
    """A TikTok API call failed; `code` is the envelope code (-1 when no envelope came back)."""

    retryable: ClassVar[bool] = False

    def __init__(self, code: int, message: str, request_id: str | None = None, path: str = "") -> None:
        super().__init__(code, message, request_id, path)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.path = path

    def __str__(self) -> str:
        where = f" on {self.path}" if self.path else ""
        text = f"TikTok error {self.code}{where}: {self.message}"
        return f"{text} (request_id {self.request_id})" if self.request_id else text


class RetryableError(TikTokError):
    """A transient failure (throttling, system error, downstream RPC); retry with backoff."""

    retryable = True


class TransportError(RetryableError):
    """No well-formed envelope came back: timeout, connection error, HTTP non-200 or a malformed body."""

    def __init__(
        self, message: str, path: str = "", request_id: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(TRANSPORT_CODE, message, request_id, path)
        self.args = (message, path, request_id, http_status)
        self.http_status = http_status

    def __str__(self) -> str:
        where = f" on {self.path}" if self.path else ""
        return f"TikTok request failed{where}: {self.message}"


class TokenRejectedError(TikTokError):
    """The access token is expired, missing or revoked (40102, 40104, 40105): reconnect required."""


class PermissionDeniedError(TikTokError):
    """The token's user has no permission for this BC or operation (40001)."""


class InvalidRequestError(TikTokError):
    """Bad parameters, a missing object, or a code this client does not know (40000, 40002, 40007, …)."""


class AuthCodeError(TikTokError):
    """The OAuth auth_code is invalid, already used or expired (40110): restart the authorization."""


class AppCredentialsError(TikTokError):
    """The app_id/secret pair is wrong or the app is blocked (40101, 40113)."""


class RetriesExhaustedError(TikTokError):
    """The client gave up after `attempts` tries; `last_error` is the final retryable error."""

    def __init__(self, last_error: TikTokError, attempts: int) -> None:
        message = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: {last_error.message}"
        super().__init__(last_error.code, message, last_error.request_id, last_error.path)
        self.args = (last_error, attempts)
        self.last_error = last_error
        self.attempts = attempts


class ResponseShapeError(TikTokError):
    """A successful response that does not have the documented shape; asking again would not help."""

    def __init__(self, path: str, where: str, problem: str) -> None:
        super().__init__(SHAPE_CODE, f"{where} {problem}", None, path)
        self.args = (path, where, problem)
        self.where = where
        self.problem = problem

    def __str__(self) -> str:
        return f"TikTok sent an unexpected response on {self.path}: {self.message}"


def is_success(code: int) -> bool:
    """True for 0 (OK) and 20001 (partial OK)."""
    return code in SUCCESS_CODES


def classify(code: int) -> type[TikTokError]:
    """The error class for a non-success envelope code."""
    if is_success(code):
        raise ValueError(f"code {code} is a success code, not an error")
    if code in _RETRYABLE_CODES or code in _RETRYABLE_RANGE:
        return RetryableError
    if code in _TOKEN_REJECTED_CODES:
        return TokenRejectedError
    if code in _APP_CREDENTIALS_CODES:
        return AppCredentialsError
    if code == 40001:
        return PermissionDeniedError
    if code == 40110:
        return AuthCodeError
    return InvalidRequestError


def error_for(code: int, message: str, request_id: str | None, path: str) -> TikTokError:
    """Build the matching error for an envelope with a non-success `code`."""
    return classify(code)(code, message, request_id, path)


__all__ = [
    "SHAPE_CODE",
    "SUCCESS_CODES",
    "TRANSPORT_CODE",
    "AppCredentialsError",
    "AuthCodeError",
    "InvalidRequestError",
    "PermissionDeniedError",
    "ResponseShapeError",
    "RetriesExhaustedError",
    "RetryableError",
    "TikTokError",
    "TokenRejectedError",
    "TransportError",
    "classify",
    "error_for",
    "is_success",
]
