"""Request parameter parsing of the emulated API: required fields, int64 IDs as strings, enums, the
JSON-encoded `filtering`, and 1-based pagination. Every violation is a 40002 (messages INFERRED)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.config import Inferred
from sandbox.errors import param_error
from sandbox.spec import Key

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


def json_list(params: Mapping[str, Any], name: str, *, optional: bool = False) -> list[str] | None:
    """An array parameter, JSON-encoded in the query string (e.g. `advertiser_ids=["1","2"]`)."""
    if optional and params.get(name) in (None, ""):
        return None
    try:
        value = json.loads(required(params, name))
    except ValueError:
        raise param_error(name, "Invalid JSON string.") from None
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise param_error(name, "Must be a list of strings.")
    return [str(v) for v in value]


def enum(params: Mapping[str, Any], name: str, choices: Sequence[str], default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise param_error(name, "Missing data for required field.")
        return default
    if value not in choices:
        raise param_error(name, f"Must be one of: {', '.join(choices)}.")
    return str(value)


def filtering(params: Mapping[str, Any], allowed: Mapping[str, Key], inferred: Inferred) -> dict[str, str]:
    """The `filtering` query parameter: a JSON object string. Keys with a choice list are checked against it
    (every enum of the definitions is `strict`), and values against the stated maximum length. A key the
    definition lacks is ignored, or refused with `Inferred.reject_unknown_filter_keys`; free-text values
    without a stated limit are held to `Inferred.free_text_max_length` when set."""
    raw = params.get("filtering")
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise param_error("filtering", "Invalid JSON string.") from None
    if not isinstance(value, dict):
        raise param_error("filtering", "Must be a JSON object.")
    unknown = sorted(set(value) - set(allowed))
    if unknown and inferred.reject_unknown_filter_keys:
        raise param_error(f"filtering.{unknown[0]}", "Unknown field.")
    result: dict[str, str] = {}
    for key, rule in allowed.items():
        if key not in value or value[key] in (None, ""):
            continue
        if not isinstance(value[key], str | int) or isinstance(value[key], bool):
            raise param_error(f"filtering.{key}", "Not a valid string.")
        text = str(value[key])
        if rule.choices is not None and text not in rule.choices:
            raise param_error(f"filtering.{key}", f"Must be one of: {', '.join(rule.choices)}.")
        limit = rule.max_length if rule.max_length is not None or rule.choices else inferred.free_text_max_length
        if limit is not None and len(text) > limit:
            raise param_error(f"filtering.{key}", f"Longer than maximum length {limit}.")
        result[key] = text
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


def paginate(
    items: Sequence[Any], page: int, size: int, past_end_empty: bool = True
) -> tuple[list[Any], dict[str, int]]:
    """One page and its `page_info`; no results: total_page 0. Past the last page: an empty list, or 40002 on
    `page` without `past_end_empty` (both INFERRED; page 1 is always answered)."""
    total = len(items)
    start = (page - 1) * size
    info = {"page": page, "page_size": size, "total_number": total, "total_page": (total + size - 1) // size}
    if not past_end_empty and page > max(1, info["total_page"]):
        raise param_error("page", f"Must be less than or equal to {max(1, info['total_page'])}.")
    return list(items[start : start + size]), info


def keyword_match(keyword: str | None, *fields: str | None, substring: bool = True) -> bool:
    """Case-insensitive match of `keyword` in any field, as a substring or whole (no keyword matches all)."""
    if not keyword:
        return True
    needle = keyword.casefold()
    if substring:
        return any(needle in text.casefold() for text in fields if text)
    return any(needle == text.casefold() for text in fields if text)
