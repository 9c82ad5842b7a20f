"""Check for updates: the partner list and shared assets, each onboarded partner's members, the daily schedule.

Owns: writes of `members`, `member_assets`, `member_changes`, `member_syncs` (and their summaries
`member_sync_latest`, `member_change_counts`), the sync policy settings.
May import: core.store, core.security, core.tiktok, core.tasks, core.services, core.accounts, core.members,
core.alerts (it records alert events in its own transactions).
"""
