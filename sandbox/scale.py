"""Start-up measurement of a large sandbox: `python -m sandbox.scale --partners 200 --members 4000`.

Starts a SandboxServer of that size (partners' members are generated on first use), reads the last
partner's member count through the API, then generates every member (`World.load_all`), and prints one JSON
line: start-up seconds (until listening), seconds to generate all members, peak resident memory (MiB) with
the whole world in memory, and the counts it saw.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence

import httpx

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer


def measure(partners: int, members: int) -> dict[str, float | int]:
    """Start-up time and peak RSS of a sandbox with `partners` x `members`."""
    started = time.perf_counter()
    server = SandboxServer(SandboxConfig(partners=partners, members=members, qps=100, qpm=6000)).start()
    seconds = time.perf_counter() - started
    try:
        last = server.world.partners[-1]
        token = server.world.issue_token(last.monitor_email)
        answer = httpx.get(
            server.api_base_url + "bc/member/get/",
            params={"bc_id": last.bc_id},
            headers={"Access-Token": token},
            timeout=30,
        ).json()
        loading = time.perf_counter()
        server.world.load_all()
        load_seconds = time.perf_counter() - loading
        total_members = sum(len(bc.members) for bc in server.world.bcs.values())
    finally:
        server.stop()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "partners": len(server.world.partners),
        "members_total": total_members,
        "last_partner_total_number": answer["data"]["page_info"]["total_number"],
        "startup_seconds": round(seconds, 2),
        "generate_all_seconds": round(load_seconds, 2),
        "peak_rss_mib": round(peak_mib, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.scale")
    parser.add_argument("--partners", type=int, default=200)
    parser.add_argument("--members", type=int, default=4000)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.partners, args.members)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
