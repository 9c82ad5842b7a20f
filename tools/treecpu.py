"""CPU seconds of a command and every process below it, by kind (Chromium renderer, GPU, browser, the app, ...).

`python tools/treecpu.py OUT.json -- COMMAND...` runs COMMAND, reads /proc every 0.25 s and keeps each process's
last user + system time; it prints and writes the totals per kind. `/usr/bin/time` and RUSAGE_CHILDREN count only
the processes their parents reap, and Chromium's renderers outlive their browser and go to init: they miss them.
A process's last 0.25 s is not counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

TICK = os.sysconf("SC_CLK_TCK")
CHROMIUM_TYPES = ("renderer", "gpu-process", "utility", "zygote")


def kind(cmd: str) -> str:
    if "chromium" in cmd:
        found = next((t for t in CHROMIUM_TYPES if f"--type={t}" in cmd), "browser")
        return "chromium-" + ("renderer-webui" if "--top-chrome-webui" in cmd else found)
    if "playwright/driver" in cmd:
        return "playwright-driver"
    if "streamlit run" in cmd:
        return "app"
    if "exec(eval(sys.stdin" in cmd:
        return "xdist-worker"
    return "postgres" if "postgres" in cmd else "other: " + cmd[:60]


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
    except OSError:
        pass
    return found


def sample(root: int, cmds: dict[int, str], seen: dict[tuple[int, str], tuple[str, float]]) -> None:
    todo = [root]
    while todo:
        pid = todo.pop()
        todo += children(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if "zygote" in cmds.get(pid, "zygote"):  # a zygote's child takes its own command line after the fork
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmds[pid] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
        seen[(pid, fields[19])] = (kind(cmds[pid]), cpu)  # keyed by pid and start time


def main(out: str, command: list[str]) -> int:
    started = time.monotonic()
    process = subprocess.Popen(command)
    cmds: dict[int, str] = {}
    seen: dict[tuple[int, str], tuple[str, float]] = {}
    while process.poll() is None:
        sample(process.pid, cmds, seen)
        time.sleep(0.25)
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for name, cpu in seen.values():
        totals[name] += cpu
        counts[name] += 1
    result = {
        "wall_s": round(time.monotonic() - started, 1),
        "cpu_s": round(sum(totals.values()), 1),
        "by_kind": {name: {"cpu_s": round(cpu, 2), "processes": counts[name]} for name, cpu in totals.most_common()},
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[sys.argv.index("--") + 1 :]))
