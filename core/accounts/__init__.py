"""The Business Centers PartnerWatch holds: your own (the integration) and your partners', with their tokens.

Owns: the `integration`, `partners`, `partner_assets` and `tokens` tables.
May import: core.store, core.security, core.tiktok, core.logging_setup.
"""
