-- PostgreSQL: the shared file with BYTEA for DuckDB's BLOB.
-- Initial schema: integration, encrypted tokens, partners and their shared assets, automation tasks,
-- OAuth flows, audit log and key/value settings. TikTok ids are VARCHAR (they exceed 2^53); every
-- timestamp is TIMESTAMPTZ. `at` is a DuckDB keyword: write it "at" in SQL.

CREATE SEQUENCE tokens_seq;
CREATE SEQUENCE tasks_seq;
CREATE SEQUENCE audit_seq;

-- The customer's own Business Center connection (a single row).
CREATE TABLE integration (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    bc_id         VARCHAR,
    bc_name       VARCHAR,
    company       VARCHAR,
    user_role     VARCHAR,
    token_id      BIGINT,
    connected_by  VARCHAR,
    connected_at  TIMESTAMPTZ,
    last_sync_at  TIMESTAMPTZ,
    health        VARCHAR,
    health_detail VARCHAR
);

-- Access tokens, Fernet-encrypted; fingerprint is a short SHA-256 prefix for audit trails.
CREATE TABLE tokens (
    id          BIGINT PRIMARY KEY DEFAULT nextval('tokens_seq'),
    purpose     VARCHAR NOT NULL,              -- customer | partner
    bc_id       VARCHAR,
    ciphertext  BYTEA NOT NULL,
    fingerprint VARCHAR,
    tiktok_user VARCHAR,
    created_by  VARCHAR,
    created_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE partners (
    bc_id                      VARCHAR PRIMARY KEY,
    name                       VARCHAR,
    assets_shared_with_partner INTEGER DEFAULT 0,
    assets_shared_by_partner   INTEGER DEFAULT 0,
    connection                 VARCHAR NOT NULL DEFAULT 'none',
                               -- none | connected | reconnect_required | sync_failed | disconnected
    token_id                   BIGINT,
    first_seen                 TIMESTAMPTZ,
    last_seen                  TIMESTAMPTZ,
    removed_at                 TIMESTAMPTZ,
    last_sync_at               TIMESTAMPTZ,
    last_error                 VARCHAR
);

CREATE TABLE partner_assets (
    partner_bc_id VARCHAR NOT NULL,
    asset_id      VARCHAR NOT NULL,
    asset_type    VARCHAR NOT NULL,
    asset_name    VARCHAR,
    share_type    VARCHAR NOT NULL,            -- SHARED (by the partner) | SHARING (with the partner)
    owner_bc_name VARCHAR,
    synced_at     TIMESTAMPTZ,
    PRIMARY KEY (partner_bc_id, asset_id, asset_type, share_type)
);

-- Automation tasks; jobs are rows with parent_id set.
CREATE TABLE tasks (
    id             BIGINT PRIMARY KEY DEFAULT nextval('tasks_seq'),
    parent_id      BIGINT,
    kind           VARCHAR,
    target         VARCHAR,
    actor          VARCHAR,
    trigger        VARCHAR,
    status         VARCHAR,
    created_at     TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ,
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    progress_done  INTEGER DEFAULT 0,
    progress_total INTEGER DEFAULT 0,
    added          INTEGER DEFAULT 0,
    updated        INTEGER DEFAULT 0,
    removed        INTEGER DEFAULT 0,
    error          VARCHAR,
    detail         VARCHAR
);
CREATE INDEX tasks_parent ON tasks (parent_id);

-- OAuth authorization attempts; only the SHA-256 of the single-use `state` is stored.
CREATE TABLE oauth_flows (
    flow_id         VARCHAR PRIMARY KEY,
    state_hash      VARCHAR UNIQUE NOT NULL,
    purpose         VARCHAR,
    partner_bc_id   VARCHAR,
    initiator       VARCHAR,
    session_binding VARCHAR,
    created_at      TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    status          VARCHAR,                   -- pending | exchanging | connected | failed
    error           VARCHAR,
    consumed_at     TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ
);

CREATE TABLE audit_log (
    id      BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
    "at"    TIMESTAMPTZ,
    actor   VARCHAR,
    action  VARCHAR,
    target  VARCHAR,
    outcome VARCHAR,
    detail  VARCHAR
);
CREATE INDEX audit_log_at ON audit_log ("at");

CREATE TABLE settings_kv (
    key        VARCHAR PRIMARY KEY,
    value      VARCHAR,
    updated_at TIMESTAMPTZ,
    updated_by VARCHAR
);
