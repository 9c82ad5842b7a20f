"""A stand-in for the app process: opens the workspace in argv[1] and runs the alert dispatcher until killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core import services as core_services
from core.alerts import dispatcher
from core.config.settings import Settings

root = Path(sys.argv[1])
settings = Settings.load(
    env={"PW_DB_PATH": str(root / "pw.duckdb"), "PW_DATA_DIR": str(root / "data"), "PW_ALERTS_BACKOFF_S": "0.05"},
    secrets_file=root / "absent-secrets.toml",
    root=root,
)
core_services.install(core_services.build(settings))
dispatcher.start(core_services.get, poll_s=0.05)
print("dispatching", flush=True)
while True:
    time.sleep(1)
