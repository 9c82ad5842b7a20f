-- Each partner's latest member sync, one row per partner, written by the member sync in the same
-- transaction as its `member_syncs` row (`core/sync/member_write.py` `_record_syncs`). The Members query's
-- "new since the partner's latest sync" flag and the Changes tab's window read it instead of scanning every
-- `member_syncs` row (365 per partner after a year of daily syncs). Latest = the greatest `synced_at` (then the
-- greatest `task_id`), as `arg_max(…, synced_at)` over `member_syncs` picked it before.
CREATE TABLE member_sync_latest (
    partner_bc_id VARCHAR PRIMARY KEY,
    task_id       BIGINT NOT NULL,
    synced_at     TIMESTAMPTZ NOT NULL,
    baseline      BOOLEAN NOT NULL
);

INSERT INTO member_sync_latest (partner_bc_id, task_id, synced_at, baseline)
    SELECT partner_bc_id, task_id, synced_at, baseline
    FROM (SELECT *, row_number() OVER (PARTITION BY partner_bc_id ORDER BY synced_at DESC, task_id DESC) AS n
          FROM member_syncs) s
    WHERE n = 1;
