-- Member sync bookkeeping: one row per partner per sync (baseline or not), when a member was last
-- (re-)added, single-use CSV export tokens, and indexes for the Members page and the change log.

ALTER TABLE members ADD COLUMN added_task_id BIGINT;  -- the sync that (re-)added the member
ALTER TABLE members ADD COLUMN last_task_id BIGINT;   -- the last sync that saw the member

CREATE TABLE member_syncs (
    task_id       BIGINT NOT NULL,
    partner_bc_id VARCHAR NOT NULL,
    synced_at     TIMESTAMPTZ NOT NULL,
    baseline      BOOLEAN NOT NULL,            -- the partner's first member sync
    members       INTEGER NOT NULL,            -- current members after this sync
    added         INTEGER NOT NULL,
    changed       INTEGER NOT NULL,
    removed       INTEGER NOT NULL,
    PRIMARY KEY (task_id, partner_bc_id)
);

CREATE INDEX member_changes_task ON member_changes (task_id, partner_bc_id);

-- Download CSV links: only the SHA-256 of the token is stored; a token works once, for a few minutes.
CREATE TABLE export_tokens (
    token_hash VARCHAR PRIMARY KEY,
    actor      VARCHAR NOT NULL,
    actor_role VARCHAR NOT NULL,
    filters    VARCHAR NOT NULL,               -- JSON of core.members.MemberFilter
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
