-- PostgreSQL: the shared file with BYTEA for BLOB and '{}' for the empty list.
-- Alerts (issue 15): channels (secrets Fernet-encrypted in secret_ct), rules per trigger, the events the sync
-- writes in its own transactions, and the deliveries (one digest per sync per channel) the dispatcher sends.

CREATE SEQUENCE alert_channels_seq;
CREATE SEQUENCE alert_rules_seq;
CREATE SEQUENCE alert_events_seq;
CREATE SEQUENCE alert_deliveries_seq;

CREATE TABLE alert_channels (
    id         BIGINT PRIMARY KEY DEFAULT nextval('alert_channels_seq'),
    name       VARCHAR UNIQUE NOT NULL,
    kind       VARCHAR NOT NULL,               -- webhook | slack | teams | email
    secret_ct  BYTEA NOT NULL,                  -- encrypted JSON: URL, signing key, SMTP login...
    summary    VARCHAR NOT NULL,               -- what may be shown: host, recipients (never a secret)
    enabled    BOOLEAN NOT NULL DEFAULT true,
    created_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE alert_rules (
    id             BIGINT PRIMARY KEY DEFAULT nextval('alert_rules_seq'),
    trigger        VARCHAR NOT NULL,
    enabled        BOOLEAN NOT NULL,
    partner_bc_ids VARCHAR[] NOT NULL DEFAULT '{}',  -- empty: every partner
    channel_ids    BIGINT[] NOT NULL DEFAULT '{}',   -- empty: every enabled channel
    updated_at     TIMESTAMPTZ,
    updated_by     VARCHAR
);

-- The defaults: security-relevant triggers on.
INSERT INTO alert_rules (trigger, enabled) VALUES
    ('new_guest', false),
    ('privileged_role', true),
    ('personal_domain', true),
    ('guest_removed', false),
    ('new_partner', true),
    ('partner_unhealthy', true),
    ('safeguard_halted', true),
    ('task_not_completed', true);

CREATE TABLE alert_events (
    id            BIGINT PRIMARY KEY DEFAULT nextval('alert_events_seq'),
    task_id       BIGINT,
    trigger       VARCHAR NOT NULL,
    partner_bc_id VARCHAR,
    member_key    VARCHAR,
    subject       VARCHAR,                     -- the member or partner as a person reads it (partner-controlled)
    detail        VARCHAR,
    created_at    TIMESTAMPTZ NOT NULL,
    digested_at   TIMESTAMPTZ                  -- set when the dispatcher put it into deliveries
);

CREATE TABLE alert_deliveries (
    id              BIGINT PRIMARY KEY DEFAULT nextval('alert_deliveries_seq'),
    channel_id      BIGINT NOT NULL,
    task_id         BIGINT,
    idempotency_key VARCHAR UNIQUE NOT NULL,
    payload         VARCHAR NOT NULL,          -- the digest as JSON (no secret, no token)
    status          VARCHAR NOT NULL,          -- pending | delivered | dead | discarded
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      VARCHAR,
    last_status     INTEGER,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
