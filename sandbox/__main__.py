"""Command line: `python -m sandbox --port 9100 --seed 7 --partners 6 --members 40 --qps 10 --qpm 600
--latency-ms 0 --app-id 7100000000000000000 --app-secret sandbox-secret --redirect-uri URL [...] [--host H]
[--state-file FILE [--reset]] [--strict]` (`--strict`: every INFERRED behaviour at its strictest, see
docs/sandbox.md)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import uvicorn

from sandbox.app import create_app
from sandbox.config import Inferred, SandboxConfig
from sandbox.models import PASSWORD
from sandbox.state import world_from_config
from sandbox.world import World


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Local emulator of the TikTok API for Business v1.3 and its portal."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--partners", type=int, default=defaults.partners)
    parser.add_argument("--members", type=int, default=defaults.members)
    parser.add_argument("--qps", type=float, default=defaults.qps)
    parser.add_argument("--qpm", type=int, default=defaults.qpm)
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
    parser.add_argument("--app-id", default=defaults.app_id)
    parser.add_argument("--app-secret", default=defaults.app_secret)
    parser.add_argument("--app-name", default=defaults.app_name)
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        dest="redirect_uris",
        help="a registered advertiser redirect URL (repeatable, exact match)",
    )
    parser.add_argument(
        "--state-file",
        default=None,
        help="keep tokens, auth codes, sessions and member changes in this JSON file across "
        "restarts (default: in memory only)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="with --state-file: start from the seed, discarding the state the file holds",
    )
    parser.add_argument(
        "--strict", action="store_true", help="answer every behaviour TikTok's definitions leave open at its strictest"
    )
    args = parser.parse_args(argv)
    if args.partners < 1 or args.members < 0:
        parser.error("--partners must be >= 1 and --members >= 0")
    if args.reset and not args.state_file:
        parser.error("--reset needs --state-file (without one the sandbox always starts from the seed)")
    return args


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed,
        partners=args.partners,
        members=args.members,
        qps=args.qps,
        qpm=args.qpm,
        latency_ms=args.latency_ms,
        app_id=args.app_id,
        app_secret=args.app_secret,
        redirect_uris=list(args.redirect_uris),
        app_name=args.app_name,
        state_file=args.state_file,
        reset_state=args.reset,
        inferred=Inferred.strict() if args.strict else Inferred(),
    )


def banner(world: World, base_url: str, seconds: float) -> str:
    """What the operator needs: URLs, app, accounts."""
    lines = [
        f"TikTok sandbox on {base_url} (world built in {seconds:.1f} s)",
        f"  API base     {base_url}/open_api/v1.3/",
        f"  portal       {base_url}/portal/auth",
        f"  world        {base_url}/sandbox/world",
        f"  app          {world.app.app_id} / {world.app.app_secret}",
        f"  redirects    {', '.join(world.app.redirect_uris) or '(none registered)'}",
        f"  accounts     password {PASSWORD}; customer admin admin@acme.example",
    ]
    if world.on_change is not None:
        lines.append("  state        kept in the --state-file (tokens and control changes survive a restart)")
    for partner in world.partners[:10]:
        lines.append(
            f"  partner {partner.number:<3}  {partner.monitor_email} ({partner.monitor_role}"
            f"{', not eligible' if not partner.eligible else ''})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from_args(args)
    started = time.perf_counter()
    world = world_from_config(config)
    print(banner(world, f"http://{args.host}:{args.port}", time.perf_counter() - started), flush=True)
    uvicorn.run(create_app(world, config), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
