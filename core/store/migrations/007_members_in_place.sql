-- The member sync updates each partner's rows in place (UPDATE ... FROM the diff) instead of deleting and
-- re-inserting them. DuckDB turns an UPDATE of an indexed column into a delete + insert, and
-- `members_current (removed_at, partner_bc_id)` covered `removed_at`; DuckDB's ART indexes serve only
-- point lookups, so no query used it (the Members page filters `removed_at IS NULL` by scan).
DROP INDEX IF EXISTS members_current;
