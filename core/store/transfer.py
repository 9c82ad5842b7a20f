"""Moving an existing DuckDB file into PostgreSQL (`python -m core.cli migrate-store --to postgresql://…`).

Both stores are opened (so both carry every migration, the same schema version), then in ONE PostgreSQL
transaction: each table's rows are read from DuckDB as Arrow batches and COPYed in, each table's row count is
checked against the source, and every sequence is set to where DuckDB's stood, so new ids follow the old ones.
Any difference or error rolls everything back: the target is either a full copy or untouched. A target that
already holds rows is refused unless `replace=True` (then its tables are emptied in the same transaction); the
rows a migration seeds (the alert rules) are replaced by the file's own.
Columns only PostgreSQL has (the `rowid` identities of migration 009) are filled by PostgreSQL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from core.store.cursor import Cursor
from core.store.database import Store, StoreError, bulk_insert

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
_SKIPPED = {"schema_migrations"}  # both stores wrote their own when they migrated
_SEEDED = {"alert_rules"}  # rows a migration inserts (012): the file's own replace them, they do not count as data


@dataclass
class Transfer:
    """What was copied: rows per table, and the sequences set."""

    tables: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def copy_store(source: Path | str, target: str, *, replace: bool = False) -> Transfer:
    """Copy the DuckDB file `source` into the PostgreSQL database `target`; see the module's docstring."""
    src, dst = Store(source), Store(target)
    try:
        if src.dialect != "duckdb" or dst.dialect != "postgresql":
            raise StoreError("migrate-store copies a DuckDB file into a PostgreSQL database (postgresql://…)")
        if src.schema_version() != dst.schema_version():
            raise StoreError(
                f"the source is at schema version {src.schema_version()}, the target at {dst.schema_version()}: "
                "run the same PartnerWatch version on both"
            )
        with src.read() as reader, dst.write() as writer:
            tables = _tables(reader)
            _check_empty(writer, tables, replace)
            done = Transfer()
            for table in tables:
                done.tables[table] = _copy_table(reader, writer, table)
            done.sequences = _copy_sequences(reader, writer)
        log.info("Copied %d rows in %d tables into %s", done.rows, len(done.tables), dst)
        return done
    finally:
        src.close()
        dst.close()


def _tables(reader: Cursor) -> list[str]:
    rows = reader.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary ORDER BY table_name"
    ).fetchall()
    return [str(name) for (name,) in rows if name not in _SKIPPED]


def _check_empty(writer: Cursor, tables: list[str], replace: bool) -> None:
    filled = [
        t
        for t in tables
        if t not in _SEEDED and writer.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone() == (True,)
    ]
    if filled and not replace:
        shown = ", ".join(filled[:5]) + (" …" if len(filled) > 5 else "")
        raise StoreError(
            f"the target database already holds data ({shown}); nothing was copied. Use an empty database, "
            "or pass --replace to empty it first"
        )
    emptied = tables if filled else [t for t in tables if t in _SEEDED]
    writer.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in emptied))


def _columns(cur: Cursor, table: str, schema: str) -> list[str]:
    rows = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [str(name) for (name,) in rows]


def _copy_table(reader: Cursor, writer: Cursor, table: str) -> int:
    target_columns = set(_columns(writer, table, "public"))
    columns = [c for c in _columns(reader, table, "main") if c in target_columns]
    missing = [c for c in _columns(reader, table, "main") if c not in target_columns]
    if missing:
        raise StoreError(f"table {table}: the target has no column {', '.join(missing)}")
    selected = ", ".join(f'"{c}"' for c in columns)
    batches = reader.sql(f'SELECT {selected} FROM "{table}"').to_arrow_reader(BATCH_ROWS)
    for batch in batches:
        if batch.num_rows:
            bulk_insert(writer, table, pa.Table.from_batches([batch]))
    expected = reader.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    copied = writer.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    if copied != expected:
        raise StoreError(f"table {table}: {copied} rows copied of {expected}; nothing was kept")
    return int(expected[0]) if expected else 0


def _copy_sequences(reader: Cursor, writer: Cursor) -> dict[str, int]:
    """Each PostgreSQL sequence continues from the DuckDB one of the same name (untouched ones stay at start)."""
    done: dict[str, int] = {}
    for name, last in reader.execute(
        "SELECT sequence_name, last_value FROM duckdb_sequences() WHERE schema_name = 'main'"
    ).fetchall():
        if last is not None:
            writer.execute("SELECT setval(?, ?)", [name, int(last)])
            done[str(name)] = int(last)
    return done
