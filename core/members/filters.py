"""What the Members page, the export, the CLI and access reviews filter on (`MemberFilter`, with the `SORTS`
allow-list), and the filter as a parameterised condition on the rows `m` (`where`), with the relations it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from core.errors import InvalidInput
from core.members import flags
from core.members.source import MEMBERS, Need, Source
from core.store.database import Store
from core.tiktok.labels import ROLES, STATUSES

# sort key → the column of `core.members.columns` it orders by (never user text)
SORTS = {
    "member": "member_lower",  # lower(coalesce(user_name, user_email)), stored by the sync (migration 008)
    "email": "email_lower",
    "partner": "partner_lower",
    "role": "role",
    "finance_role": "finance_role",
    "status": "status",
    "assets": "asset_count",
    "flags": "flag_count",
    "first_seen": "first_seen",
    "last_seen": "last_seen",
    "removed_at": "removed_at",
}


@dataclass(frozen=True)
class MemberFilter:
    """What the Members page, the export and the CLI filter on; empty tuples mean "all"."""

    partners: tuple[str, ...] = ()  # partner BC ids
    roles: tuple[str, ...] = ()  # ADMIN | STANDARD
    statuses: tuple[str, ...] = ()  # BOUND | PENDING | REJECTED | UNBOUND
    flags: tuple[str, ...] = ()  # flag keys; a member matches when it has any of them
    search: str = ""
    include_removed: bool = False
    sort: str = "partner"
    descending: bool = False
    task_id: int | None = None  # only the members this sync task changed (the alert digest's link)

    def __post_init__(self) -> None:
        for name, values, allowed in (
            ("role", self.roles, ROLES),
            ("status", self.statuses, STATUSES),
            ("flag", self.flags, flags.BY_KEY),
        ):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise InvalidInput(f"unknown {name} {unknown[0]!r}; choose from {', '.join(allowed)}")
        if self.sort not in SORTS:
            raise InvalidInput(f"cannot sort by {self.sort!r}; choose from {', '.join(SORTS)}")
        if self.task_id is not None and (isinstance(self.task_id, bool) or not isinstance(self.task_id, int)):
            raise InvalidInput(f"the task must be a task number, not {self.task_id!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MemberFilter:
        return cls.from_mapping(json.loads(text))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> MemberFilter:
        """From a JSON object or query parameters (lists, or comma-separated strings)."""

        def values(name: str) -> tuple[str, ...]:
            raw = data.get(name) or ()
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, Iterable):
                raise TypeError(f"'{type(items).__name__}' object is not iterable")
            return tuple(str(v).strip() for v in items if str(v).strip())

        def flag(name: str) -> bool:
            return str(data.get(name, "")).lower() in ("1", "true", "yes", "on")

        return cls(
            partners=values("partners"),
            roles=tuple(v.upper() for v in values("roles")),
            statuses=tuple(v.upper() for v in values("statuses")),
            flags=values("flags"),
            search=str(data.get("search") or ""),
            include_removed=flag("include_removed"),
            sort=str(data.get("sort") or "partner"),
            descending=flag("descending"),
            task_id=task_number(data.get("task_id")),
        )

    def to_query(self) -> dict[str, str]:
        """Query parameters that `from_mapping` reads back."""
        query = {
            "partners": ",".join(self.partners),
            "roles": ",".join(self.roles),
            "statuses": ",".join(self.statuses),
            "flags": ",".join(self.flags),
            "search": self.search,
            "include_removed": "1" if self.include_removed else "",
            "sort": self.sort,
            "descending": "1" if self.descending else "",
            "task_id": "" if self.task_id is None else str(self.task_id),
        }
        return {k: v for k, v in query.items() if v}


def task_number(raw: object) -> int | None:
    """A sync task's number from a query parameter or JSON (`12`, `"12"`, `"#12"`); None when empty."""
    text = str(raw if raw is not None else "").strip().removeprefix("#")
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(f"the task must be a task number, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Where:
    """A condition on the rows `m` (SQL with its parameters) and the relations it reads besides `m`."""

    sql: str = "true"
    params: tuple[object, ...] = ()
    needs: frozenset[Need] = frozenset()


def flag_condition(flag: flags.Flag, src: Source = MEMBERS) -> Where:
    """A flag's condition on rows of `src`: computed from the member, or read from the keys frozen with it."""
    if src.flag_keys is None:
        return Where(flag.condition(), needs=flag.needs)
    return Where(f"'{flag.key}' = ANY(m.{src.flag_keys})")


def _substring(dialect: str, term: str) -> tuple[Callable[[str], str], str]:
    """A condition "contains `term`" over a column, and its parameter: DuckDB's `contains`; on PostgreSQL a
    LIKE '%term%' (term escaped), which the trigram indexes of the members' search columns serve."""
    if dialect == "postgresql":
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return (lambda column: f"{column} LIKE ?"), f"%{escaped}%"
    return (lambda column: f"contains({column}, ?)"), term


def membership(f: MemberFilter, alias: str, current: str) -> tuple[list[str], list[object]]:
    """The filter's conditions on who a member is (current, partner, role, status) over rows `alias` with those
    columns, `current` saying that the row itself is not removed; with their parameters."""
    clauses: list[str] = []
    params: list[object] = []
    if not f.include_removed:
        # a semi-join with the few removed partners: half the time of joining every member to its partner
        clauses.append(
            f"{current} AND {alias}.partner_bc_id NOT IN (SELECT bc_id FROM partners WHERE removed_at IS NOT NULL)"
        )
    for column, values in (("partner_bc_id", f.partners), ("user_role", f.roles), ("relation_status", f.statuses)):
        if len(values) == 1:  # an equality: PostgreSQL then reads an index on (column, sort key) in order
            clauses.append(f"{alias}.{column} = ?")
            params.append(values[0])
        elif values:
            clauses.append(f"{alias}.{column} = ANY(?::VARCHAR[])")
            params.append(list(values))
    return clauses, params


def where(f: MemberFilter, src: Source = MEMBERS, dialect: str = "duckdb", *, search: bool = True) -> Where:
    """The filter as a condition on `m` (and `p`, `params` for some flags), with its parameters; without the
    search's condition (`searched`) when `search` is false.

    Flags are tested by their bare conditions (a NULL fails a WHERE as false does): wrapped in the flag
    column's `coalesce`, DuckDB evaluates them on every decoded row instead of in the scan.
    """
    clauses, params = membership(f, "m", "m.removed_at IS NULL")
    needs: frozenset[Need] = frozenset()
    if f.task_id is not None:
        # a semi-join: each member once, however many changes the task made to it
        clauses.append(
            "EXISTS (SELECT 1 FROM member_changes c WHERE c.task_id = ?"
            " AND c.partner_bc_id = m.partner_bc_id AND c.member_key = m.member_key)"
        )
        params.append(f.task_id)
    if f.flags:
        conditions = [flag_condition(flags.BY_KEY[k], src) for k in f.flags]
        clauses.append("(" + " OR ".join(f"({c.sql})" for c in conditions) + ")")
        needs = needs.union(*(c.needs for c in conditions))
    if search and f.search.strip():
        found = searched(f, src, dialect)
        clauses.append(found.sql)
        params.extend(found.params)
    return Where(" AND ".join(clauses) or "true", tuple(params), needs)


def searched(f: MemberFilter, src: Source = MEMBERS, dialect: str = "duckdb") -> Where:
    """The search's condition on `m`: the member itself matches, or its partner's name does."""
    person, named = search_parts(f, src, dialect)
    # PostgreSQL: the partners found as an array computed once, so that every branch of the OR is an index
    # condition (trigram, user_id, partner) and the members are found by a bitmap OR, not a scan
    found = f"= ANY(ARRAY({named.sql}))" if dialect == "postgresql" else f"IN ({named.sql})"
    return Where(f"({person.sql} OR m.partner_bc_id {found})", (*person.params, *named.params))


def search_parts(f: MemberFilter, src: Source = MEMBERS, dialect: str = "duckdb") -> tuple[Where, Where]:
    """The search's two halves: its condition on the member `m` itself (name, e-mail, user id), and the query
    of the partners (`bc_id`) whose name it matches (every member of those matches)."""
    term = f.search.strip().lower()
    # member_lower is the lower-cased e-mail when there is no name: the e-mail is searched anyway; the partner
    # names are searched once each, not once per member (a list of the partners found, bound instead, becomes a
    # 250-way OR per member)
    contains, needle = _substring(dialect, term)
    person = f"{contains('m.member_lower')} OR {contains('m.email_lower')} OR m.user_id = ?"
    return (
        Where(person, (needle, needle, f.search.strip())),
        Where(f"SELECT bc_id FROM {src.partners} AS sp WHERE {contains('lower(name)')}", (needle,)),
    )


def partner_options(store: Store) -> dict[str, str]:
    """Partner BC id → name of every partner with synced members (the page's partner filter)."""
    with store.read() as cur:
        rows = cur.execute(
            """SELECT p.bc_id, p.name FROM partners p
               WHERE EXISTS (SELECT 1 FROM members m WHERE m.partner_bc_id = p.bc_id)
               ORDER BY lower(p.name), p.bc_id"""
        ).fetchall()
    return {bc_id: name or bc_id for bc_id, name in rows}
