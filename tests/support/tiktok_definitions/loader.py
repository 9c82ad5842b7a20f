"""Reads TikTok's SDK endpoint definitions into plain rules: from the shared reference folder beside the project
when it is there (CI has it), else from the vendored copy next to this module (kept equal by a test)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
SHARED = HERE.parents[3] / "shared" / "tiktok-sdk-definitions"
SOURCE = SHARED if SHARED.is_dir() else HERE


@dataclass(frozen=True)
class Param:
    """One query parameter: enum values split by `is_valid`, limits, and the keys of an object parameter."""

    name: str
    required: bool
    valid: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    max_length: int | None = None
    maximum: int | None = None
    properties: dict[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    path: str  # e.g. "bc/asset/get/"
    params: dict[str, Param]
    item_fields: tuple[str, ...]  # the list item fields `response_rule` names (empty: not named)
    keeps_nulls: bool  # x-open-settings.pop_resp_nullvalue is false


def _param(name: str, schema: dict[str, Any], required: bool) -> Param:
    enums = (schema.get("x-open-enum") or {}).get("enums", [])
    props = {key: _param(key, value, False) for key, value in (schema.get("properties") or {}).items()}
    return Param(
        name,
        required,
        tuple(e["key"] for e in enums if e["is_valid"]),
        tuple(e["key"] for e in enums if not e["is_valid"]),
        schema.get("maxLength"),
        schema.get("maximum"),
        props,
    )


def _item_fields(rule: dict[str, Any]) -> tuple[str, ...]:
    items = rule.get("list[][]")
    if not items:
        return ()
    return tuple(sorted(re.sub(r"\[\]$", "", key) for key in items[0]))


def _load(path: Path) -> Definition:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    ((route, ops),) = doc["paths"].items()
    ((_, op),) = ops.items()
    params = {}
    for p in op.get("parameters", []):
        schema = p.get("schema") or p.get("content", {}).get("application/json", {}).get("schema", {})
        params[p["name"]] = _param(p["name"], schema, bool(p.get("required")))
    rule = op["x-open-rules"].get("response_rule") or {}
    keeps_nulls = not (op.get("x-open-settings") or {}).get("pop_resp_nullvalue", False)
    return Definition(route.strip("/") + "/", params, _item_fields(rule), keeps_nulls)


@functools.cache
def definitions() -> dict[str, Definition]:
    """Every vendored definition by path ("bc/asset/get/"); GET endpoints only (the sandbox serves no writes)."""
    found = {}
    for path in sorted(SOURCE.glob("*.yml")):
        definition = _load(path)
        if "Access-Token" in definition.params and path.stem != "bc_asset_assign":
            found[definition.path] = definition
    return found


def enum_of(definition: Definition, name: str) -> Param:
    return definition.params[name]
