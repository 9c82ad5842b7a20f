"""The TikTok response envelope `{code, message, request_id, data}`: parsing and unwrapping.

IDs are strings in v1.3, and some exceed 2^53. Python's `json` keeps integers exact, and `loads` also turns
any integer that arrives under an id key (`*_id`, `id`, `*_ids` lists) into a string, so callers only ever
see string ids. Every failure to get a well-formed envelope is a `TransportError`; a well-formed envelope
with a non-success code becomes the matching `TikTokError`.
"""

from __future__ import annotations

import json
from typing import Any

from core.tiktok.errors import TransportError, error_for, is_success

_MAX_SNIPPET = 80


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def _stringify(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _ids_as_strings(obj: dict[str, Any]) -> dict[str, Any]:
    for key, value in obj.items():
        if _is_id_key(key):
            obj[key] = _stringify(value)
        elif key.endswith("_ids") and isinstance(value, list):
            obj[key] = [_stringify(item) for item in value]
    return obj


def loads(content: bytes | str) -> Any:
    """Parse a JSON body, keeping every id a string (raises ValueError on bad JSON)."""
    return json.loads(content, object_hook=_ids_as_strings)


def _describe(content: bytes) -> str:
    snippet = content[:_MAX_SNIPPET].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"{len(content)} bytes" + (f": {snippet!r}" if snippet else "")


def _parse_body(status: int, content: bytes, path: str) -> dict[str, Any]:
    if status != 200:
        raise TransportError(f"HTTP {status} ({_describe(content)})", path, http_status=status)
    try:
        body = loads(content)
    except (ValueError, UnicodeDecodeError):
        raise TransportError(f"non-JSON response body ({_describe(content)})", path, http_status=status) from None
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(code, int) or isinstance(code, bool):
        raise TransportError(
            f"malformed envelope without an integer code ({_describe(content)})", path, http_status=status
        )
    return body


def unwrap(status: int, content: bytes, path: str) -> dict[str, Any]:
    """Return `data` of a successful envelope, or raise the error the response stands for."""
    return unwrap_with_code(status, content, path)[1]


def unwrap_with_code(status: int, content: bytes, path: str) -> tuple[int, dict[str, Any]]:
    """Like `unwrap`, also returning the success code (0, or 20001 for a partial success)."""
    body = _parse_body(status, content, path)
    request_id = body.get("request_id")
    request_id = str(request_id) if request_id is not None else None
    if not is_success(body["code"]):
        raise error_for(body["code"], str(body.get("message") or ""), request_id, path)
    data = body.get("data")
    if data is None:
        return body["code"], {}
    if not isinstance(data, dict):
        raise TransportError(f"malformed envelope: data is a {type(data).__name__}", path, request_id, status)
    return body["code"], data


__all__ = ["loads", "unwrap", "unwrap_with_code"]
