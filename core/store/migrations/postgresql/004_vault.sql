-- PostgreSQL: the shared file with BYTEA for DuckDB's BLOB.
-- Credential vault: monitor-account credentials (email, phone, password Fernet-encrypted), shared
-- with individual workspace users. `email_hint` is a masked form for lists; a reveal is audited.
CREATE SEQUENCE vault_seq;
CREATE TABLE vault_items (
    id            BIGINT PRIMARY KEY DEFAULT nextval('vault_seq'),
    partner_bc_id VARCHAR,
    label         VARCHAR NOT NULL,
    email_hint    VARCHAR,
    email_ct      BYTEA NOT NULL,
    phone_ct      BYTEA NOT NULL,
    password_ct   BYTEA NOT NULL,
    created_by    VARCHAR NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE vault_shares (
    item_id    BIGINT NOT NULL,
    user_email VARCHAR NOT NULL,               -- lower-cased workspace user
    shared_by  VARCHAR,
    shared_at  TIMESTAMPTZ,
    PRIMARY KEY (item_id, user_email)
);
