"""Storage: the one DuckDB database of the process, its versioned migrations and transactions.

Owns: the database file, the `schema_migrations` table, the write lock.
May import: the standard library and duckdb/pyarrow only (no other core package).
"""
