-- The high-cardinality text of `members` is stored uncompressed. DuckDB's default for such text (FSST,
-- `DICT_FSST` in DuckDB 2) decodes a whole vector to read one value of it, so fetching a page's 50 rows by
-- rowid decoded most of the table (24 ms of 1M members instead of 6 ms), and search (`contains`) and sorts
-- on these columns decode every value on every page view (about 1.5× and 2.5× slower). The cost is disk
-- space: about 200 bytes more per member. Low-cardinality columns (roles, statuses, partner ids, domains)
-- keep their dictionary compression, which makes filters and GROUP BY on them faster.
-- DuckDB sets a column's compression only when the table is created: the table is rebuilt, rows in order.
CREATE TABLE members_009 (
    partner_bc_id   VARCHAR,
    member_key      VARCHAR USING COMPRESSION uncompressed,
    user_id         VARCHAR USING COMPRESSION uncompressed,
    user_name       VARCHAR USING COMPRESSION uncompressed,
    user_email      VARCHAR USING COMPRESSION uncompressed,
    user_role       VARCHAR,
    finance_role    VARCHAR,
    relation_status VARCHAR,
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    removed_at      TIMESTAMPTZ,
    first_task_id   BIGINT,
    added_task_id   BIGINT,
    last_task_id    BIGINT,
    asset_count     INTEGER DEFAULT 0,
    assets          VARCHAR DEFAULT '',
    asset_admin     BOOLEAN DEFAULT false,
    member_lower    VARCHAR USING COMPRESSION uncompressed,
    email_lower     VARCHAR USING COMPRESSION uncompressed,
    email_domain    VARCHAR,
    PRIMARY KEY (partner_bc_id, member_key)
);
INSERT INTO members_009 BY NAME SELECT * FROM members ORDER BY rowid;
DROP TABLE members;
ALTER TABLE members_009 RENAME TO members;
