"""Connecting Business Centers: OAuth round trips (state store, callback), disconnects, workspace users, vault.

Owns: `oauth_flows`, `workspace_users`, `vault_items`, `vault_shares`.
May import: every core package below it (store, security, tiktok, tasks, services, accounts, members, sync).
"""
