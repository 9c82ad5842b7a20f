-- PostgreSQL only (migrations/postgresql/018_member_counts_by_flag.sql): `member_counts` kept per the members'
-- row-flag inputs too, and an index by status then member. DuckDB counts and sorts by scanning its columns
-- (benchmarks/RESULTS.md, members_query): nothing to add on the DuckDB file.
SELECT 1 WHERE false;
