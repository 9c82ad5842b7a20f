"""Storage: the one database of the process (the embedded DuckDB file, or PostgreSQL with PW_DATABASE_URL), its
versioned migrations and transactions, and the copy of a DuckDB file into PostgreSQL (`transfer`).

Modules: `database.py` (`Store`, the DuckDB store, migrations), `cursor.py` (the `Cursor` protocol),
`postgres.py` (the PostgreSQL store: pool, transactions, migrations under an advisory lock),
`postgres_cursor.py` (`PgCursor`, `register`, `copy_rows`), `postgres_placeholders.py` (DuckDB's placeholders
as psycopg's), `postgres_arrow.py` (rows as Arrow and back), `settings.py` (`settings_kv`), `transfer.py`.

Owns: the database file or connection pool, the `schema_migrations` table, the write lock.
May import: the standard library, duckdb, psycopg/psycopg_pool, pyarrow, pandas and core.errors (no other core
package).
"""
