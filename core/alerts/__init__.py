"""Alerts: tell the security team when partner access changes, at least once, never lost, never spammed.

The sync writes alert *events* (`outbox.record*`) inside the same transaction as the writes that caused them.
The dispatcher (one thread per process, like the scheduler) turns the events of each finished task into one
digest per channel (`digest`), stores it as a *delivery* and sends it (`senders`) with exponential backoff and
jitter, Retry-After, an idempotency key and a dead-letter state. Rules (`rules`) pick triggers (`triggers`),
partners and channels; channels (`channels`) keep their secrets encrypted; `ssrf` vets every target and
`signing` is the HMAC-SHA256 signature of the generic webhook; `render` makes partner-controlled text inert
in Slack, Teams and e-mail.

Owns: `alert_channels`, `alert_rules`, `alert_events`, `alert_deliveries`.
May import: core.members, core.accounts, core.services, core.tasks, core.config, core.security, core.store,
core.logging_setup, core.errors (it sits below core.sync, which writes its events).
"""
