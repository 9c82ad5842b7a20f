-- PostgreSQL only (migrations/postgresql/017_member_counts_and_sort_indexes.sql): the Members page's counts kept
-- beside the members and B-tree indexes on its sort keys. DuckDB counts and sorts by scanning its columns, which
-- is already fast there (benchmarks/RESULTS.md, members_query): nothing to add on the DuckDB file.
SELECT 1 WHERE false;
