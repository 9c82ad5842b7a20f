"""SQL is written once, with DuckDB's placeholders (`?`, `$name`, `$1`); on PostgreSQL they become psycopg's
(`%s`, `%(name)s`), a literal `%` is escaped, and numpy parameters become Python values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=2048)
def translate(query: str) -> tuple[str, tuple[int, ...] | None]:
    """DuckDB placeholders → psycopg's: `?` → `%s`, `$name` → `%(name)s`, `$N` → `%s` (the order of the `$N`
    is returned, to reorder a positional list), a literal `%` → `%%`. Quoted strings, identifiers and comments
    are left alone (except `%`)."""
    out: list[str] = []
    numbered: list[int] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch in "'\"":
            end = i + 1
            while end < n:
                if query[end] == ch:
                    if end + 1 < n and query[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            out.append(query[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            end = n if end < 0 else end
            out.append(query[i:end].replace("%", "%%"))
            i = end
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        elif ch == "$" and i + 1 < n and (query[i + 1].isalnum() or query[i + 1] == "_"):
            match = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|\d+)", query[i:])
            assert match is not None
            name = match.group(1)
            if name.isdigit():
                numbered.append(int(name) - 1)
                out.append("%s")
            else:
                out.append(f"%({name})s")
            i += match.end()
        else:
            out.append(ch)
            i += 1
    return "".join(out), (tuple(numbered) if numbered else None)


def sendable(value: object) -> object:
    """A parameter psycopg can send (numpy scalars and arrays become Python values)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [sendable(v) for v in value.tolist()]
    if isinstance(value, tuple):
        return [sendable(v) for v in value]
    if isinstance(value, list):
        return [sendable(v) for v in value]
    return value


def prepared(query: str, parameters: object) -> tuple[str, object]:
    """The query and its parameters as psycopg takes them (a `$N` list reordered)."""
    if parameters is None:
        return query, None
    text, numbered = translate(query)
    if isinstance(parameters, dict):
        return text, {str(k): sendable(v) for k, v in parameters.items()}
    values = [sendable(v) for v in parameters] if isinstance(parameters, Sequence) else [sendable(parameters)]
    if numbered is not None:
        values = [values[index] for index in numbered]
    return text, values
