-- Tasks are claimed from this table, not handed to a thread in memory (issue 18): a request inserts a
-- Queued row with what the work needs; a runner (in an `all` or `worker` process) claims it in one
-- transaction and holds a lease it renews while the work runs. A task whose lease ran out belongs to a
-- process that died and ends Not completed. Written once for every dialect.

-- what the work needs besides kind, target, actor and trigger (JSON, e.g. {"partner_bc_id": "…"})
ALTER TABLE tasks ADD COLUMN params VARCHAR;
-- who holds the task (host/pid/runner) and until when; renewed by its heartbeat
ALTER TABLE tasks ADD COLUMN claimed_by VARCHAR;
ALTER TABLE tasks ADD COLUMN lease_until TIMESTAMPTZ;
-- the dedupe key (e.g. 'check-for-updates') while the task is Queued or running, NULL once it ended:
-- unique, so a second request joins the active task whichever process asks
ALTER TABLE tasks ADD COLUMN active_key VARCHAR;
CREATE UNIQUE INDEX tasks_active_key ON tasks (active_key);

-- Runs of the schedule claimed by one process: the daily sync per UTC day, housekeeping per interval.
-- The primary key makes the claim (INSERT … ON CONFLICT DO NOTHING) succeed in exactly one process.
CREATE TABLE schedule_claims (
    job        VARCHAR NOT NULL,      -- 'daily-sync' | 'housekeeping'
    slot       VARCHAR NOT NULL,      -- the UTC day (YYYY-MM-DD), or the housekeeping interval's number
    claimed_by VARCHAR NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, slot)
);

-- the day the daily sync last ran moves here from settings_kv
INSERT INTO schedule_claims (job, slot, claimed_by, claimed_at)
    SELECT 'daily-sync', value, coalesce(updated_by, 'migration 015'), coalesce(updated_at, current_timestamp)
    FROM settings_kv WHERE key = 'schedule.last_run_date' AND value IS NOT NULL;
DELETE FROM settings_kv WHERE key = 'schedule.last_run_date';
