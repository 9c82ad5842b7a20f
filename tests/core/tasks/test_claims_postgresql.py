"""On PostgreSQL, processes that claim tasks at the same time (`jobs.claim`, FOR UPDATE SKIP LOCKED) each take
different tasks, and every task is taken exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.store.database import Store
from core.tasks import jobs
from tests.support.backends import PgCluster
from tools import zygote

ROOT = Path(__file__).resolve().parents[3]
TASKS = 60

_CLAIMER = """
import json, sys
from core.store.database import Store
from core.tasks import jobs
store = Store(sys.argv[1])
taken = []
while (task := jobs.claim(store, ["sync"], sys.argv[2], 60.0)) is not None:
    taken.append(task.id)
store.close()
print(json.dumps(taken))
"""


def test_two_processes_claim_every_task_once(pg_cluster: PgCluster) -> None:
    url = pg_cluster.fresh_database()
    store = Store(url)
    with store.write() as cur:
        for i in range(TASKS):
            cur.execute("INSERT INTO tasks (kind, status, target) VALUES ('sync', ?, ?)", [jobs.QUEUED, f"t{i}"])
    claimers = [
        zygote.popen([sys.executable, "-c", _CLAIMER, url, name], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for name in ("worker-a", "worker-b")
    ]
    taken = [json.loads(claimer.communicate(timeout=120)[0]) for claimer in claimers]
    assert all(claimer.returncode == 0 for claimer in claimers)
    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == TASKS
    with store.read() as cur:
        rows = cur.execute("SELECT claimed_by, count(*) FROM tasks WHERE status = ? GROUP BY 1", [jobs.STARTED])
        assert dict(rows.fetchall()) == {
            name: len(ids) for name, ids in zip(("worker-a", "worker-b"), taken, strict=True) if ids
        }
    store.close()
    pg_cluster.drop(url)
