-- What each guest user reaches on your shared assets, written by the member sync with its rows so the
-- Members page and the export read it from `members` instead of aggregating `member_assets` per view:
-- the number of assets, the display text ("Acme Ads (ADVERTISER: ADMIN); ...") and the admin flag.
-- (Defaults rather than NOT NULL: DuckDB cannot add a NOT NULL column to a table with an index.)

ALTER TABLE members ADD COLUMN asset_count INTEGER DEFAULT 0;
ALTER TABLE members ADD COLUMN assets VARCHAR DEFAULT '';
ALTER TABLE members ADD COLUMN asset_admin BOOLEAN DEFAULT false;

UPDATE members SET asset_count = r.asset_count, assets = r.assets, asset_admin = r.asset_admin
FROM (
    SELECT partner_bc_id, member_key, count(*) AS asset_count,
           string_agg(coalesce(asset_name, asset_id) || ' (' || asset_type || ': ' || coalesce(asset_role, '?')
                      || ')', '; ' ORDER BY asset_name, asset_id) AS assets,
           bool_or(asset_role = 'ADMIN') AS asset_admin
    FROM member_assets GROUP BY partner_bc_id, member_key
) r
WHERE members.partner_bc_id = r.partner_bc_id AND members.member_key = r.member_key;
