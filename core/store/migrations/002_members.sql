-- Guest users (partner BC members) with history, what they reach, and the change log per sync.
CREATE TABLE members (
    partner_bc_id   VARCHAR NOT NULL,
    member_key      VARCHAR NOT NULL,          -- user_id, or lower(user_email) for e-mail-only invitees
    user_id         VARCHAR,
    user_name       VARCHAR,
    user_email      VARCHAR,
    user_role       VARCHAR,                   -- ADMIN | STANDARD
    finance_role    VARCHAR,                   -- MANAGER | ANALYST | NULL
    relation_status VARCHAR,                   -- BOUND | PENDING | REJECTED | UNBOUND
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    removed_at      TIMESTAMPTZ,
    first_task_id   BIGINT,
    PRIMARY KEY (partner_bc_id, member_key)
);
CREATE INDEX members_current ON members (removed_at, partner_bc_id);

CREATE TABLE member_assets (
    partner_bc_id VARCHAR NOT NULL,
    member_key    VARCHAR NOT NULL,
    asset_id      VARCHAR NOT NULL,
    asset_type    VARCHAR NOT NULL,
    asset_name    VARCHAR,
    asset_role    VARCHAR,                     -- advertiser_role / catalog_role / ... as TikTok reports it
    synced_at     TIMESTAMPTZ,
    PRIMARY KEY (partner_bc_id, member_key, asset_id, asset_type)
);

CREATE SEQUENCE member_changes_seq;
CREATE TABLE member_changes (
    id            BIGINT PRIMARY KEY DEFAULT nextval('member_changes_seq'),
    task_id       BIGINT,
    partner_bc_id VARCHAR NOT NULL,
    member_key    VARCHAR NOT NULL,
    change        VARCHAR NOT NULL,            -- added | removed | role_changed | status_changed
    old_value     VARCHAR,
    new_value     VARCHAR,
    changed_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX member_changes_at ON member_changes (changed_at);
