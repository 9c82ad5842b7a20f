"""Settings: environment variables and `.streamlit/secrets.toml` folded into one frozen dataclass, and the
checks a process passes before it starts.

Modules: `settings.py` (`Settings`, `Settings.load()`, the defaults), `source.py` (where a value is read from:
the environment wins over the secrets file), `fields.py` (how each setting is read and checked), `errors.py`
(`ConfigError`, naming every variable to fix), `process_roles.py` (PW_PROCESS_ROLE: all, web, worker, and
whether a process may start as one), `startup.py` (the live configuration check and its one message).

Owns: no table.
May import: core.security, core.logging_setup, core.errors.
"""
