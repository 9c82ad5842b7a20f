"""Storage: the one database of the process (the embedded DuckDB file, or PostgreSQL with PW_DATABASE_URL), its
versioned migrations and transactions, and the copy of a DuckDB file into PostgreSQL (`transfer`).

Owns: the database file or connection pool, the `schema_migrations` table, the write lock.
May import: the standard library, duckdb, psycopg/psycopg_pool, pyarrow, pandas and core.errors (no other core
package).
"""
