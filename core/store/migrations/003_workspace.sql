-- People who use PartnerWatch: admins, analysts and guest users (partner-side admins).
CREATE TABLE workspace_users (
    email         VARCHAR PRIMARY KEY,         -- lower-cased
    role          VARCHAR NOT NULL,            -- admin | analyst | guest
    partner_bc_id VARCHAR,                     -- guests: the partner they belong to
    invited_by    VARCHAR,
    invited_at    TIMESTAMPTZ,
    joined_at     TIMESTAMPTZ
);
