-- PostgreSQL: the shared file with BYTEA for BLOB, SMALLINT for TINYINT, no DuckDB compression clause, and a
-- `rowid` identity column, which DuckDB has built in (rows of a review page are fetched by it).
-- Access reviews (issue 16): campaigns, the snapshot of the guest users in scope frozen at creation, one
-- decision per snapshot row, the history of every decision, and the reviewers assigned per partner.
-- Removal requests are the Remove decisions of closed campaigns (core.reviews.remediation); their status
-- is read from the member change log, so nothing here is written by a sync.

CREATE SEQUENCE review_campaigns_seq;
CREATE TABLE review_campaigns (
    id              BIGINT PRIMARY KEY DEFAULT nextval('review_campaigns_seq'),
    name            VARCHAR NOT NULL,
    scope           VARCHAR NOT NULL,           -- JSON of core.reviews.campaigns.Scope
    due_date        DATE,
    overdue_days    INTEGER NOT NULL,           -- a requested removal not done this long after sign-off is Overdue
    created_by      VARCHAR NOT NULL,
    snapshot_at     TIMESTAMPTZ NOT NULL,       -- when the snapshot was frozen (the campaign's creation)
    members         BIGINT NOT NULL DEFAULT 0,  -- rows in the snapshot
    closed_by       VARCHAR,
    closed_at       TIMESTAMPTZ,                -- sign-off; the report's PDF carries this time
    undecided       BIGINT,                     -- rows left undecided at sign-off (listed in the report)
    csv_sha256      VARCHAR,                    -- SHA-256 of the attestation CSV, computed at sign-off
    csv_rows        BIGINT,
    pdf             BYTEA                        -- the attestation PDF as signed off (it is small)
);

-- Who reviews which partner; a partner without rows here is reviewed by every analyst (and admin).
CREATE TABLE review_reviewers (
    campaign_id   BIGINT NOT NULL,
    partner_bc_id VARCHAR NOT NULL,
    reviewer      VARCHAR NOT NULL,             -- lower-cased e-mail
    PRIMARY KEY (campaign_id, partner_bc_id, reviewer)
);

-- The snapshot: the members columns the Members query reads (core.members.queries over a Source), frozen,
-- with the partner's name and the member's flags as they were, then the decision. No key index: a 1M-row
-- INSERT builds none, and rows are addressed by (campaign_id, partner_bc_id, member_key) scans or rowid.
-- High-cardinality text uncompressed, as members (migration 009): a page fetches 50 rows by rowid.
CREATE TABLE review_items (
    campaign_id     BIGINT NOT NULL,
    partner_bc_id   VARCHAR NOT NULL,
    partner_name    VARCHAR,
    member_key      VARCHAR NOT NULL,
    user_id         VARCHAR,
    user_name       VARCHAR,
    user_email      VARCHAR,
    user_role       VARCHAR,
    finance_role    VARCHAR,
    relation_status VARCHAR,
    first_seen      TIMESTAMPTZ,
    last_seen       TIMESTAMPTZ,
    removed_at      TIMESTAMPTZ,
    assets          VARCHAR,
    asset_count     INTEGER,
    asset_admin     BOOLEAN,
    member_lower    VARCHAR,
    email_lower     VARCHAR,
    email_domain    VARCHAR,
    row_flag_count  SMALLINT,
    flag_keys       VARCHAR[],                  -- core.members.flags keys the member had at the snapshot
    decision        VARCHAR,                    -- keep | remove | needs_info | NULL (undecided)
    comment         VARCHAR,
    decided_by      VARCHAR,
    decided_at      TIMESTAMPTZ,
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);

-- Every decision: who, when, before → after (a bulk decision writes one row per member it changed).
CREATE TABLE review_decision_log (
    campaign_id   BIGINT NOT NULL,
    partner_bc_id VARCHAR NOT NULL,
    member_key    VARCHAR NOT NULL,
    before        VARCHAR,
    after         VARCHAR,
    comment       VARCHAR,
    actor         VARCHAR NOT NULL,
    "at"          TIMESTAMPTZ NOT NULL
);
