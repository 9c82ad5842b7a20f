"""Request parameter parsing of the emulated API: required fields, int64 IDs as strings, enums, the
JSON-encoded `filtering`, and 1-based pagination. Every violation is a 40002 (messages INFERRED)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.errors import param_error

MAX_INT64 = 2**63 - 1


def required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or str(value).strip() == "":
        raise param_error(name, "Missing data for required field.")
    return str(value)


def int64_id(params: Mapping[str, Any], name: str, *, optional: bool = False) -> str | None:
    """A numeric ID given as a string (request IDs are `int64(%s)` on TikTok's side)."""
    value = params.get(name)
    if optional and (value is None or str(value) == ""):
        return None
    text = required(params, name)
    if not text.isdigit() or not text.isascii() or int(text) > MAX_INT64:
        raise param_error(name, "Not a valid integer.")
    return str(int(text))


def enum(params: Mapping[str, Any], name: str, choices: Sequence[str], default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise param_error(name, "Missing data for required field.")
        return default
    if value not in choices:
        raise param_error(name, f"Must be one of: {', '.join(choices)}.")
    return str(value)


def filtering(params: Mapping[str, Any], allowed: Mapping[str, Sequence[str] | None]) -> dict[str, str]:
    """The `filtering` query parameter: a JSON object string. Unknown keys are ignored; keys with a
    choice list are checked against it."""
    raw = params.get("filtering")
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise param_error("filtering", "Invalid JSON string.") from None
    if not isinstance(value, dict):
        raise param_error("filtering", "Must be a JSON object.")
    result: dict[str, str] = {}
    for key, choices in allowed.items():
        if key not in value or value[key] in (None, ""):
            continue
        if not isinstance(value[key], str | int):
            raise param_error(f"filtering.{key}", "Not a valid string.")
        if choices is not None and value[key] not in choices:
            raise param_error(f"filtering.{key}", f"Must be one of: {', '.join(choices)}.")
        result[key] = str(value[key])
    return result


def paging(params: Mapping[str, Any], max_size: int) -> tuple[int, int]:
    """(page, page_size): 1-based page (default 1), page_size 1..max_size (default 10)."""
    page = _int(params, "page", 1)
    size = _int(params, "page_size", 10)
    if page < 1:
        raise param_error("page", "Must be greater than or equal to 1.")
    if not 1 <= size <= max_size:
        raise param_error("page_size", f"Must be greater than or equal to 1 and less than or equal to {max_size}.")
    return page, size


def _int(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        raise param_error(name, "Not a valid integer.") from None


def paginate(items: Sequence[Any], page: int, size: int) -> tuple[list[Any], dict[str, int]]:
    """One page and its `page_info`. Past the last page: an empty list (INFERRED); no results: total_page 0."""
    total = len(items)
    start = (page - 1) * size
    info = {"page": page, "page_size": size, "total_number": total, "total_page": (total + size - 1) // size}
    return list(items[start:start + size]), info


def keyword_match(keyword: str | None, *fields: str | None) -> bool:
    """Case-insensitive substring match of `keyword` in any field (no keyword matches everything)."""
    if not keyword:
        return True
    needle = keyword.casefold()
    return any(needle in text.casefold() for text in fields if text)
