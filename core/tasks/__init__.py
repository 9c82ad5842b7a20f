"""Background tasks (what the Automation page lists) and their per-partner jobs: runner, statuses, progress.

Owns: the `tasks` table (a task and its jobs are rows of it), the thread pool that runs them.
May import: core.store, core.security.
"""
