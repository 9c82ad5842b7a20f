"""Guest users as analysts read them: queries for the Members page, risk flags, the CSV export.

Owns: reading `members` (written only by core.sync), the personal-domain list, export tokens.
May import: core.store, core.security, core.accounts.
"""
