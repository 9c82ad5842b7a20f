-- Summaries the member sync writes beside its history, so the pages read a row per partner or per sync instead of
-- every sync and every change of a year (benchmarks/RESULTS.md, "Year of history").
--
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

-- How many changes of each kind a sync wrote for a partner (one row per write, partner, kind and time), written
-- with the `member_changes` rows (`member_write.apply_many`): the Changes chart sums these instead of counting
-- every change of its period (1.86 M changes in 90 days of a million members at 2% a day).
CREATE TABLE member_change_counts (
    task_id       BIGINT,
    partner_bc_id VARCHAR NOT NULL,
    change        VARCHAR NOT NULL,
    changed_at    TIMESTAMPTZ NOT NULL,   -- the changes' `changed_at` (the sync's time)
    members       INTEGER NOT NULL
);

INSERT INTO member_change_counts (task_id, partner_bc_id, change, changed_at, members)
    SELECT task_id, partner_bc_id, change, changed_at, count(*) FROM member_changes
    GROUP BY task_id, partner_bc_id, change, changed_at;
