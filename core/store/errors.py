"""What the store raises: `StoreError` and the failures a user can act on."""

from __future__ import annotations

from core.errors import UserError


class StoreError(UserError, RuntimeError):
    """The store cannot be opened or used (bad migration directory, closed store...)."""


class ConnectionLost(StoreError):
    """The database server went away in the middle of a unit of work (restart, failover, network): the server
    rolled its transaction back, so nothing of it was kept."""

    def __init__(self) -> None:
        super().__init__(
            "The database connection was lost (the database server restarted or could not be reached): the work in "
            "progress was rolled back and nothing of it was saved. Try again once the database is back."
        )


class OutOfMemory(StoreError):
    """DuckDB needed more than its memory limit for one statement (a large sort, aggregate or transaction)."""

    def __init__(self, limit_mib: int, writing: bool) -> None:
        kept = " The work was rolled back: nothing of it was saved." if writing else ""
        super().__init__(
            f"The database needed more memory than its limit of {limit_mib} MiB for this work.{kept} "
            "Raise PW_DUCKDB_MEMORY_MIB (see docs/DEPLOYMENT.md) and try again."
        )


class DatabaseUnavailable(StoreError):
    """The database server could not be reached within the store's wait (stopped, restarting, unreachable):
    nothing was read or written."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(
            f"The database cannot be reached (no connection within {wait_s:g} s): "
            "the database server is down, restarting or unreachable, so nothing was read or saved. Try again in a "
            "moment; if it lasts, tell whoever runs PartnerWatch."
        )


class DatabaseRefused(StoreError):
    """The database server answered but refused the connection (an unknown user or database, a wrong
    password): waiting will not help, the address must change."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The database server refused the connection: {reason}. Check the user, password and database name in "
            "PW_DATABASE_URL."
        )
