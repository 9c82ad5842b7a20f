"""Command line for cron and scripts: `python -m core.cli sync|export-members|rotate-key|migrate|…`.

    python -m core.cli [-v] sync [--partner BC_ID]
    python -m core.cli export-members --out FILE [--partner BC_ID ...] [--role ADMIN|STANDARD ...]
                                      [--status BOUND|PENDING|REJECTED|UNBOUND ...] [--flag FLAG ...]
                                      [--search TEXT] [--include-removed] [--sort COLUMN] [--desc]
    python -m core.cli rotate-key      (PW_ENCRYPTION_KEYS=NEW,OLD: re-encrypt every secret under NEW)
    python -m core.cli migrate
    python -m core.cli migrate-store --to postgresql://… [--from FILE] [--replace]
    python -m core.cli review report --campaign ID --out DIR   (the attestation CSV and PDF of a signed-off review)
    python -m core.cli alerts test --channel NAME   (send a test message; the receiver's answer on stderr)
    python -m core.cli alerts retry-dead            (queue every dead-letter alert delivery again)
    python -m core.cli worker   (run Check for updates tasks, the daily schedule, housekeeping and alerts until
                                 SIGTERM; PW_PROCESS_ROLE=worker beside web replicas on a shared database)

Exit codes: 0 ok, 1 failed, 2 bad usage (one line on stderr: an unknown option, a partner that does not
exist, an output file that cannot be written). Quiet on success, as cron expects: only warnings and errors
are printed, `-v` adds the summary and informational logs; on a terminal a sync shows a progress line.

DuckDB lets one process open the database file. When the app is running (its `/healthz` answers at
PW_APP_URL, else at the URL the app writes to `data/app.url` while it runs, else at `settings.public_url`)
the CLI works through the app's local API (`/api/...`, `Authorization: Bearer <api token>`); otherwise it
opens the store itself. The output is the same either way, and never a lock error.

`main` and the exit codes are what scripts and tests use (`from core import cli; cli.main([...]) == cli.OK`).

Modules: `run.py` (`main`: parse, run a command, map errors to exit codes; `__main__.py` calls it),
`parser.py` (the commands and options), `terminal.py` (what is printed where), `errors.py` (exit codes,
UsageError, CliFailure), `running_app.py` (finding the running app: `data/app.url`, `/healthz`), `backend.py`
(the app's API or the database itself), `local.py` (the database opened here; its checks also serve the
app's API), `remote.py` (through the running app's API), `task_report.py` (a Check for updates task's
outcome and progress), `csv_out.py` (a CSV streamed to `--out`), `admin.py` (migrate, migrate-store and
worker: the commands that open the database themselves).

Owns: no table; it reads and writes through the packages below it.
May import: every other core package (it is the top layer).
"""

from core.cli.errors import FAILED, OK, USAGE
from core.cli.run import main

__all__ = ["FAILED", "OK", "USAGE", "main"]
