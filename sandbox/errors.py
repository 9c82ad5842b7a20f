"""API error codes and messages of the TikTok API for Business v1.3, as the sandbox answers them.

Codes are the SDK constants (`tiktok_business/tiktok_code.py`); the messages of 40001, 40100, 40104, 40105,
50000 and 50002 are the observed ones from the wire spec. The other messages are INFERRED (the real API's
wording is undocumented), written in the marshmallow style TikTok uses for parameter errors.
"""

from __future__ import annotations

OK = 0
PERMISSION_ERROR = 40001
PARAM_ERROR = 40002
NOT_EXIST = 40007
REQUEST_TOO_FREQUENT = 40100
INVALID_PARTNER = 40101
EMPTY_ACCESS_TOKEN = 40104
INVALID_ACCESS_TOKEN = 40105
AUTH_CODE_ERROR = 40110
APP_FORBIDDEN = 40113
SYS_ERROR = 50000
SYS_TIMEOUT = 50002

MESSAGES: dict[int, str] = {
    PERMISSION_ERROR: "No permission to perform the related operation.",
    PARAM_ERROR: "Parameter error.",
    NOT_EXIST: "The object does not exist.",
    REQUEST_TOO_FREQUENT: "Due to too many requests, requests from App [{app_id}] are temporarily restricted.",
    INVALID_PARTNER: "Invalid parameter values for authentication: the app_id and secret do not match.",
    EMPTY_ACCESS_TOKEN: "Access token is null, you should set it in http header with key Access-Token.",
    INVALID_ACCESS_TOKEN: "Access token is incorrect or has been revoked.",
    AUTH_CODE_ERROR: "Invalid authorization code.",
    APP_FORBIDDEN: "The app has been blocked or does not exist.",
    SYS_ERROR: "System error.",
    SYS_TIMEOUT: "Error processing request on TikTok side.",
    40016: "Requests made too frequently.",
    40133: "Advertiser's QPS reaches QPS limit for current path.",
    51004: "Internal service error (RPC), please try again later.",
    51060: "Business Center service error (RPC), please try again later.",
    60001: "The system is under maintenance, please try again later.",
}


def message_for(code: int, app_id: str = "") -> str:
    """The sandbox's message for `code`; a generic one for codes it has no wording for."""
    text = MESSAGES.get(code, f"Error {code}.")
    return text.replace("{app_id}", app_id)


class ApiError(Exception):
    """An error answered in the envelope: HTTP 200, `code` != 0, `data` {}."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or message_for(code))
        self.code = code
        self.message = message or message_for(code)


def param_error(field: str, reason: str) -> ApiError:
    """40002 for one field, e.g. `bc_id: Missing data for required field.` (wording INFERRED)."""
    return ApiError(PARAM_ERROR, f"{field}: {reason}")
