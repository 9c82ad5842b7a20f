-- PostgreSQL: what the Members page reads at 1M members without walking every row (benchmarks/RESULTS.md,
-- "PostgreSQL beside DuckDB"). DuckDB's file has an empty migration 017: its column scans need none of this.
--
-- 1. `member_counts`: how many members there are per partner, role, status, removed or not and row flag count
--    (the keys the page's filters and the flag-count order read), kept exact by triggers on `members` in the
--    transaction of every write (INSERT and DELETE: one aggregate per statement over its transition table; UPDATE:
--    only the rows whose key changed).
--    `core.members.paging` sums it for a total, the counts per partner and the row-flag histogram when the
--    filter reads nothing else (no search, risk flags or task); a row whose count fell to 0 stays, at 0.
-- 2. B-tree indexes whose order is the page's ORDER BY (the key, then partner_bc_id, member_key), in both
--    directions (`NULLS LAST` either way, as `columns.order` sorts): a page is then the first rows of an index
--    scan instead of a Top-N over every member. `last_seen` has none on purpose: every sync rewrites it for every
--    current member, and while no index holds it (nor `last_task_id`) those new row versions are HOT updates
--    that touch no index at all (migration 009's fill factor leaves the room).
CREATE TABLE member_counts (
    partner_bc_id   VARCHAR NOT NULL,
    user_role       VARCHAR,
    relation_status VARCHAR,
    removed         BOOLEAN NOT NULL,
    row_flag_count  INTEGER NOT NULL,
    members         BIGINT NOT NULL
);
CREATE UNIQUE INDEX member_counts_key ON member_counts
    (partner_bc_id, user_role, relation_status, removed, row_flag_count) NULLS NOT DISTINCT;

-- Each statement's rows added (+1) and removed (-1) per key (the row flag count as `columns.COLUMNS['row_flag_count']`
-- reads it). Dynamic SQL, so that each trigger's statement names only the transition table it has.
CREATE FUNCTION member_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    part CONSTANT text := 'SELECT r.partner_bc_id, r.user_role, r.relation_status, r.removed_at IS NOT NULL AS removed, '
        || 'coalesce(r.row_flag_count, coalesce((r.user_role = ''ADMIN''), false)::INTEGER + coalesce((r.finance_role = ''MANAGER''), false)::INTEGER + coalesce((r.relation_status = ''PENDING''), false)::INTEGER + coalesce((coalesce(r.asset_admin, false)), false)::INTEGER) AS row_flag_count, %s AS delta FROM %I r';
    deltas text;
BEGIN
    deltas := CASE TG_OP
        WHEN 'INSERT' THEN format(part, 1, 'added_rows')
        WHEN 'DELETE' THEN format(part, -1, 'removed_rows')
    END;
    EXECUTE 'INSERT INTO member_counts AS c (partner_bc_id, user_role, relation_status, removed, row_flag_count, members) '
        || 'SELECT partner_bc_id, user_role, relation_status, removed, row_flag_count, sum(delta) FROM (' || deltas
        || ') AS d GROUP BY partner_bc_id, user_role, relation_status, removed, row_flag_count HAVING sum(delta) <> 0 '
        || 'ON CONFLICT (partner_bc_id, user_role, relation_status, removed, row_flag_count) '
        || 'DO UPDATE SET members = c.members + excluded.members';
    RETURN NULL;
END
$$;

CREATE TRIGGER member_counts_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT EXECUTE FUNCTION member_counts_add();
-- An UPDATE moves only the rows whose key changed, one row at a time: a statement trigger would capture every
-- updated row (the sync's `last_seen` refresh of every current member), which doubled that refresh's cost.
CREATE FUNCTION member_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_counts AS c (partner_bc_id, user_role, relation_status, removed, row_flag_count, members)
    VALUES (OLD.partner_bc_id, OLD.user_role, OLD.relation_status, OLD.removed_at IS NOT NULL, coalesce(OLD.row_flag_count, coalesce((OLD.user_role = 'ADMIN'), false)::INTEGER + coalesce((OLD.finance_role = 'MANAGER'), false)::INTEGER + coalesce((OLD.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(OLD.asset_admin, false)), false)::INTEGER), -1), (NEW.partner_bc_id, NEW.user_role, NEW.relation_status, NEW.removed_at IS NOT NULL, coalesce(NEW.row_flag_count, coalesce((NEW.user_role = 'ADMIN'), false)::INTEGER + coalesce((NEW.finance_role = 'MANAGER'), false)::INTEGER + coalesce((NEW.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(NEW.asset_admin, false)), false)::INTEGER), 1)
    ON CONFLICT (partner_bc_id, user_role, relation_status, removed, row_flag_count)
    DO UPDATE SET members = c.members + excluded.members;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_counts_update AFTER UPDATE ON members FOR EACH ROW
    WHEN ((OLD.partner_bc_id, OLD.user_role, OLD.relation_status, OLD.removed_at IS NOT NULL, coalesce(OLD.row_flag_count, coalesce((OLD.user_role = 'ADMIN'), false)::INTEGER + coalesce((OLD.finance_role = 'MANAGER'), false)::INTEGER + coalesce((OLD.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(OLD.asset_admin, false)), false)::INTEGER)) IS DISTINCT FROM (NEW.partner_bc_id, NEW.user_role, NEW.relation_status, NEW.removed_at IS NOT NULL, coalesce(NEW.row_flag_count, coalesce((NEW.user_role = 'ADMIN'), false)::INTEGER + coalesce((NEW.finance_role = 'MANAGER'), false)::INTEGER + coalesce((NEW.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(NEW.asset_admin, false)), false)::INTEGER)))
    EXECUTE FUNCTION member_counts_move();
CREATE TRIGGER member_counts_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT EXECUTE FUNCTION member_counts_add();

-- TRUNCATE (`migrate-store --replace` empties the tables with it) fires no DELETE trigger: it empties the counts.
CREATE FUNCTION member_counts_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_counts;
    RETURN NULL;
END
$$;
CREATE TRIGGER member_counts_truncate AFTER TRUNCATE ON members FOR EACH STATEMENT EXECUTE FUNCTION member_counts_clear();

INSERT INTO member_counts (partner_bc_id, user_role, relation_status, removed, row_flag_count, members)
SELECT partner_bc_id, user_role, relation_status, removed_at IS NOT NULL,
       coalesce(row_flag_count, coalesce((user_role = 'ADMIN'), false)::INTEGER + coalesce((finance_role = 'MANAGER'), false)::INTEGER + coalesce((relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(asset_admin, false)), false)::INTEGER),
       count(*)
FROM members GROUP BY 1, 2, 3, 4, 5;

CREATE INDEX members_by_member ON members (member_lower, partner_bc_id, member_key);
CREATE INDEX members_by_member_desc ON members (member_lower DESC NULLS LAST, partner_bc_id, member_key);
CREATE INDEX members_by_email ON members (email_lower, partner_bc_id, member_key);
CREATE INDEX members_by_email_desc ON members (email_lower DESC NULLS LAST, partner_bc_id, member_key);
CREATE INDEX members_by_assets ON members ((coalesce(asset_count, 0)), partner_bc_id, member_key);
CREATE INDEX members_by_assets_desc ON members ((coalesce(asset_count, 0)) DESC NULLS LAST, partner_bc_id, member_key);
CREATE INDEX members_by_first_seen ON members (first_seen, partner_bc_id, member_key);
CREATE INDEX members_by_first_seen_desc ON members (first_seen DESC NULLS LAST, partner_bc_id, member_key);
CREATE INDEX members_by_removed_desc ON members (removed_at DESC NULLS LAST, partner_bc_id, member_key);
CREATE INDEX members_by_row_flags ON members (row_flag_count);
-- The Members search's exact user id (its other branches have trigram indexes, migration 009, and the partner
-- key): with this every branch of its OR is an index condition.
CREATE INDEX members_user_id ON members (user_id);
-- Room for a whole new version of every row of a page: the sync's `last_seen` refresh then stays a HOT update
-- for every member (with 30% free, most new versions went to another page and into every index above).
ALTER TABLE members SET (fillfactor = 50);
