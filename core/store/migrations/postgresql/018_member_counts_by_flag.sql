-- PostgreSQL: the rest of what the Members page reads at 1M members without walking every row
-- (benchmarks/RESULTS.md, "PostgreSQL beside DuckDB"). DuckDB's file has an empty migration 018.
--
-- 1. `member_counts` (migration 017) also kept per the member's own risk-flag inputs: finance manager or not,
--    admin on your asset or not, and the e-mail domain (the personal e-mail flag is a list of domains in the
--    settings, read when counting). A filter on these flags (`core.members.paging`) then takes its total, its
--    counts per partner and its row-flag histogram from sums over these rows instead of a scan of every member;
--    only the "new since the partner's latest sync" flag still scans. The UPDATE trigger now fires when any
--    column a key is derived from changes (the sync's `last_seen` refresh changes none of them), and adds up its
--    two rows per key, so a change that leaves the key as it was moves nothing.
-- 2. An index on (status, member, partner, member key) in both directions: a filter on one status sorted by
--    member reads the first rows of that status in order (the page passes `relation_status = ?` for a single
--    value, which the index's equality serves in order; `= ANY(…)` would not be ordered before PostgreSQL 17).
-- 3. `member_seen`: how many members there are per partner, removed or not and `last_seen`, kept exact by statement
--    triggers on `members` (over each statement's transition tables, the UPDATE's too). The `last_seen` order
--    (`core.members.paging`) finds from it which (last seen, partner) groups a page spans, then reads only those
--    partners' members: `last_seen` itself has no index, since every sync rewrites it for every current member
--    and an index on it would make those updates non-HOT (a new entry in every index of `members`).
DROP TRIGGER member_counts_insert ON members;
DROP TRIGGER member_counts_update ON members;
DROP TRIGGER member_counts_delete ON members;
DROP FUNCTION member_counts_move();
DROP FUNCTION member_counts_add();
DROP INDEX member_counts_key;
TRUNCATE member_counts;

ALTER TABLE member_counts ADD COLUMN finance_manager BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE member_counts ADD COLUMN asset_admin BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE member_counts ADD COLUMN email_domain VARCHAR;
CREATE UNIQUE INDEX member_counts_key ON member_counts
    (partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin, email_domain)
    NULLS NOT DISTINCT;

-- A statement's rows added (+1) or removed (-1), summed per key: the keys as `member_counts_key(r)` below.
CREATE FUNCTION member_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    part CONSTANT text := 'SELECT r.partner_bc_id, r.user_role, r.relation_status, r.removed_at IS NOT NULL AS removed, '
        || 'coalesce(r.row_flag_count, coalesce((r.user_role = ''ADMIN''), false)::INTEGER + coalesce((r.finance_role = ''MANAGER''), false)::INTEGER + coalesce((r.relation_status = ''PENDING''), false)::INTEGER + coalesce((coalesce(r.asset_admin, false)), false)::INTEGER) AS row_flag_count, '
        || 'coalesce(r.finance_role = ''MANAGER'', false) AS finance_manager, coalesce(r.asset_admin, false) AS asset_admin, '
        || 'r.email_domain, %s AS delta FROM %I r';
    deltas text;
BEGIN
    deltas := CASE TG_OP
        WHEN 'INSERT' THEN format(part, 1, 'added_rows')
        WHEN 'DELETE' THEN format(part, -1, 'removed_rows')
    END;
    EXECUTE 'INSERT INTO member_counts AS c (partner_bc_id, user_role, relation_status, removed, row_flag_count, '
        || 'finance_manager, asset_admin, email_domain, members) '
        || 'SELECT partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin, '
        || 'email_domain, sum(delta) FROM (' || deltas || ') AS d '
        || 'GROUP BY partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin, '
        || 'email_domain HAVING sum(delta) <> 0 '
        || 'ON CONFLICT (partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, '
        || 'asset_admin, email_domain) DO UPDATE SET members = c.members + excluded.members';
    RETURN NULL;
END
$$;

-- One updated row: -1 under its old key, +1 under its new one, summed per key (nothing when they are equal).
CREATE FUNCTION member_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_counts AS c (partner_bc_id, user_role, relation_status, removed, row_flag_count,
                                    finance_manager, asset_admin, email_domain, members)
    SELECT partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin,
           email_domain, sum(delta)
    FROM (VALUES
        (OLD.partner_bc_id, OLD.user_role, OLD.relation_status, OLD.removed_at IS NOT NULL,
         coalesce(OLD.row_flag_count, coalesce((OLD.user_role = 'ADMIN'), false)::INTEGER + coalesce((OLD.finance_role = 'MANAGER'), false)::INTEGER + coalesce((OLD.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(OLD.asset_admin, false)), false)::INTEGER),
         coalesce(OLD.finance_role = 'MANAGER', false), coalesce(OLD.asset_admin, false), OLD.email_domain, -1),
        (NEW.partner_bc_id, NEW.user_role, NEW.relation_status, NEW.removed_at IS NOT NULL,
         coalesce(NEW.row_flag_count, coalesce((NEW.user_role = 'ADMIN'), false)::INTEGER + coalesce((NEW.finance_role = 'MANAGER'), false)::INTEGER + coalesce((NEW.relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(NEW.asset_admin, false)), false)::INTEGER),
         coalesce(NEW.finance_role = 'MANAGER', false), coalesce(NEW.asset_admin, false), NEW.email_domain, 1)
    ) AS d (partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin,
            email_domain, delta)
    GROUP BY partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin,
             email_domain
    HAVING sum(delta) <> 0
    ON CONFLICT (partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin,
                 email_domain)
    DO UPDATE SET members = c.members + excluded.members;
    RETURN NULL;
END
$$;

CREATE TRIGGER member_counts_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT EXECUTE FUNCTION member_counts_add();
-- Fires when a column a key is derived from changed (the sync's refresh of `last_seen` changes none).
CREATE TRIGGER member_counts_update AFTER UPDATE ON members FOR EACH ROW
    WHEN ((OLD.partner_bc_id, OLD.user_role, OLD.relation_status, OLD.removed_at IS NULL, OLD.row_flag_count,
           OLD.finance_role, OLD.asset_admin, OLD.email_domain)
          IS DISTINCT FROM (NEW.partner_bc_id, NEW.user_role, NEW.relation_status, NEW.removed_at IS NULL,
                            NEW.row_flag_count, NEW.finance_role, NEW.asset_admin, NEW.email_domain))
    EXECUTE FUNCTION member_counts_move();
CREATE TRIGGER member_counts_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT EXECUTE FUNCTION member_counts_add();

INSERT INTO member_counts (partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager,
                           asset_admin, email_domain, members)
SELECT partner_bc_id, user_role, relation_status, removed_at IS NOT NULL,
       coalesce(row_flag_count, coalesce((user_role = 'ADMIN'), false)::INTEGER + coalesce((finance_role = 'MANAGER'), false)::INTEGER + coalesce((relation_status = 'PENDING'), false)::INTEGER + coalesce((coalesce(asset_admin, false)), false)::INTEGER),
       coalesce(finance_role = 'MANAGER', false), coalesce(asset_admin, false), email_domain, count(*)
FROM members GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE INDEX members_by_status_member ON members (relation_status, member_lower, partner_bc_id, member_key);
CREATE INDEX members_by_status_member_desc ON members
    (relation_status, member_lower DESC NULLS LAST, partner_bc_id, member_key);
-- 4. The flag-count order's bound (`paging._ids_by_flag_count`): members with at least so many row flags, or one
--    less and a personal e-mail domain, found by a bitmap OR over this index (it replaces 017's on the count alone).
DROP INDEX members_by_row_flags;
CREATE INDEX members_by_row_flags_domain ON members (row_flag_count, email_domain);

CREATE TABLE member_seen (
    partner_bc_id VARCHAR NOT NULL,
    removed       BOOLEAN NOT NULL,
    last_seen     TIMESTAMPTZ,
    members       BIGINT NOT NULL
);
CREATE UNIQUE INDEX member_seen_key ON member_seen (partner_bc_id, removed, last_seen) NULLS NOT DISTINCT;

-- A statement's rows removed (-1, `old_rows`) and added (+1, `new_rows`), summed per key; dynamic SQL, so that each
-- trigger's statement names only the transition tables it has.
CREATE FUNCTION member_seen_add() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    part CONSTANT text := 'SELECT r.partner_bc_id, r.removed_at IS NOT NULL AS removed, r.last_seen, %s AS delta FROM %I r';
    deltas text;
BEGIN
    deltas := CASE TG_OP
        WHEN 'INSERT' THEN format(part, 1, 'new_rows')
        WHEN 'DELETE' THEN format(part, -1, 'old_rows')
        ELSE format(part, -1, 'old_rows') || ' UNION ALL ' || format(part, 1, 'new_rows')
    END;
    EXECUTE 'INSERT INTO member_seen AS c (partner_bc_id, removed, last_seen, members) '
        || 'SELECT partner_bc_id, removed, last_seen, sum(delta) FROM (' || deltas || ') AS d '
        || 'GROUP BY partner_bc_id, removed, last_seen HAVING sum(delta) <> 0 '
        || 'ON CONFLICT (partner_bc_id, removed, last_seen) DO UPDATE SET members = c.members + excluded.members';
    RETURN NULL;
END
$$;
CREATE TRIGGER member_seen_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_seen_add();
CREATE TRIGGER member_seen_update AFTER UPDATE ON members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION member_seen_add();
CREATE TRIGGER member_seen_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION member_seen_add();
-- TRUNCATE fires no DELETE trigger: migration 017's TRUNCATE trigger empties both
CREATE OR REPLACE FUNCTION member_counts_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_counts;
    DELETE FROM member_seen;
    RETURN NULL;
END
$$;

INSERT INTO member_seen (partner_bc_id, removed, last_seen, members)
SELECT partner_bc_id, removed_at IS NOT NULL, last_seen, count(*) FROM members GROUP BY 1, 2, 3;
