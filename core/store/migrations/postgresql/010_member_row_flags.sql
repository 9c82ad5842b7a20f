-- PostgreSQL: the shared file with SMALLINT for DuckDB's TINYINT (and booleans cast to INTEGER: PostgreSQL has no
-- boolean → smallint cast).
-- How many of the flags that read only the member's own row it has (`core.flags.ROW_FLAGS`: partner admin,
-- finance manager, invitation pending, admin on your asset), written by the member sync with each row. Sorting
-- by flag count then adds only the two flags that depend on other data (personal e-mail, new since the
-- partner's latest sync) on every member, instead of evaluating all six (about 50 ms of 1M members).
-- The expression is `core.flags.row_flag_count_sql('members')` (a test checks they are the same).
ALTER TABLE members ADD COLUMN row_flag_count SMALLINT;

UPDATE members SET row_flag_count = coalesce((members.user_role = 'ADMIN'), false)::INTEGER + coalesce((members.finance_role = 'MANAGER'), false)::INTEGER + coalesce((members.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(members.asset_admin, false)), false)::INTEGER;
