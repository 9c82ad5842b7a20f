-- A delivery is claimed before it is sent (issue 18: several worker processes dispatch alerts from one database):
-- the dispatcher sets who sends it and until when, in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
-- so no other process sends it meanwhile; marking it delivered or failed clears the claim. The claim of a process
-- that died lapses at `claimed_until`, and another process sends the delivery again (same idempotency key).
-- Written once for every dialect.
ALTER TABLE alert_deliveries ADD COLUMN claimed_by VARCHAR;
ALTER TABLE alert_deliveries ADD COLUMN claimed_until TIMESTAMPTZ;
