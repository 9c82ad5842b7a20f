-- PostgreSQL: DuckDB's migration 009 rebuilds `members` to store its text uncompressed; PostgreSQL has no such
-- choice to make. What PostgreSQL needs instead:
-- * a `rowid` on `members` and `member_assets` (DuckDB has one built in): the member sync updates the rows it
--   just read by it, and the Members page fetches a page's rows by it;
-- * trigram indexes (pg_trgm) for the Members search, a substring match on the lower-cased name and e-mail;
-- * a fill factor that leaves room for the rows every sync rewrites.
ALTER TABLE members ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX members_rowid ON members (rowid);
ALTER TABLE member_assets ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX member_assets_rowid ON member_assets (rowid);
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX members_member_lower_trgm ON members USING gin (member_lower gin_trgm_ops);
CREATE INDEX members_email_lower_trgm ON members USING gin (email_lower gin_trgm_ops);
-- Every sync refreshes `last_seen` of every current member (and `synced_at` of their assets): room left in each
-- page lets PostgreSQL write those new row versions in place (HOT updates: no index entry to add).
ALTER TABLE members SET (fillfactor = 70);
ALTER TABLE member_assets SET (fillfactor = 70);
