"""Security: encryption of secrets at rest and key rotation, roles and permission checks, the audit log.

Owns: `audit_log`, the encryption keys, the re-encryption of every secret column (`keys.py`).
May import: core.store, core.logging_setup.
"""
