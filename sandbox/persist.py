"""The sandbox's runtime state in a JSON file, so a restarted sandbox keeps its tokens and control changes.

    attach(world, Path("data/sandbox-state.json"))              # restore what the file holds, then keep it
    attach(world, Path("data/sandbox-state.json"), reset=True)  # start from the seed, overwriting the file

The file holds what `World.runtime_state()` returns (auth codes, access tokens, portal sessions, the
journal of member changes) plus the world's identity (seed, sizes, app id): a file written for another
world is ignored, with a warning, and replaced at the first change. Injected faults, latency and rate
limits are not kept (they are test knobs). Every change rewrites the file atomically (a temporary file
renamed over it), mode 0600 since it holds access tokens. Without a state file nothing touches the disk.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from sandbox.world import World

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_FILE_MODE = 0o600


def identity(world: World) -> dict[str, Any]:
    """What makes two sandboxes the same world: same seed and sizes, same app."""
    return {
        "seed": world.seed,
        "partners": world.partner_count,
        "members": world.member_count,
        "app_id": world.app.app_id,
    }


def attach(world: World, path: Path, *, reset: bool = False) -> None:
    """Restore `world` from `path` (unless `reset` or the file is absent or for another world) and save every
    later change there."""
    path = Path(path)
    state = None if reset else _read(path, identity(world))
    if state is not None:
        try:
            world.restore(state)
            log.info("Sandbox state restored from %s", path)
        except (KeyError, ValueError, TypeError) as exc:
            world.reset()
            log.warning("Ignoring %s: its changes do not apply to this world (%s); starting from the seed", path, exc)
    world.on_change = lambda: save(world, path)
    save(world, path)


def save(world: World, path: Path) -> None:
    """Write the world's runtime state to `path` atomically (called under the world's lock)."""
    document = {"version": FORMAT_VERSION, "world": identity(world), "state": world.runtime_state()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, separators=(",", ":"))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _read(path: Path, expected: dict[str, Any]) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Ignoring the unreadable sandbox state file %s (%s); starting from the seed", path, exc)
        return None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        log.warning("Ignoring %s: not a sandbox state file of this version; starting from the seed", path)
        return None
    if document.get("world") != expected:
        log.warning(
            "Ignoring %s: it was written for another world (%s, now %s); starting from the seed",
            path,
            document.get("world"),
            expected,
        )
        return None
    return document.get("state") or {}
