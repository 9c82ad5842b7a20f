"""Background tasks (what the Automation page lists) and their per-partner jobs: the queue, claims, leases,
statuses, progress, and the runner that claims and runs them.

Owns: the `tasks` table (a task and its jobs are rows of it; it is also the queue), the process's job runner.
May import: core.store, core.security.
"""
