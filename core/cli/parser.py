"""The commands and their options (argparse); a usage mistake raises UsageError (exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from core.cli.errors import UsageError
from core.members import filters, flags
from core.members.filters import MemberFilter
from core.tiktok import labels

PROG = "python -m core.cli"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="PartnerWatch from the command line. Quiet on success.")
    verbose = _Parser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the summary and informational logs (default: warnings and errors only)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=False, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("sync", parents=[verbose], help="Check for updates (all partners, or one)")
    run.add_argument("--partner", metavar="BC_ID", help="only this partner BC")
    out = commands.add_parser(
        "export-members", parents=[verbose], help="export guest users as CSV (same filters as the page)"
    )
    out.add_argument("--out", required=True, type=Path, metavar="FILE")
    out.add_argument("--partner", action="append", default=[], metavar="BC_ID")
    out.add_argument("--role", action="append", default=[], choices=list(labels.ROLES), type=str.upper)
    out.add_argument("--status", action="append", default=[], choices=list(labels.STATUSES), type=str.upper)
    out.add_argument("--flag", action="append", default=[], choices=[f.key for f in flags.FLAGS])
    out.add_argument("--search", default="")
    out.add_argument("--include-removed", action="store_true")
    out.add_argument("--sort", default="partner", choices=list(filters.SORTS))
    out.add_argument("--desc", action="store_true")
    commands.add_parser(
        "rotate-key",
        parents=[verbose],
        help="re-encrypt every stored secret under the first "
        "key of PW_ENCRYPTION_KEYS (NEW,OLD); all or nothing, safe to repeat",
    )
    commands.add_parser("migrate", parents=[verbose], help="apply database migrations")
    review = commands.add_parser("review", parents=[verbose], help="access reviews")
    actions = review.add_subparsers(dest="review_command", required=True, parser_class=_Parser)
    made = actions.add_parser(
        "report", parents=[verbose], help="write the attestation CSV and PDF of a signed-off access review"
    )
    made.add_argument("--campaign", required=True, type=int, metavar="ID")
    made.add_argument("--out", required=True, type=Path, metavar="DIR")
    alerts = commands.add_parser("alerts", help="alert channels and deliveries").add_subparsers(
        dest="alerts_command", required=True, parser_class=_Parser
    )
    test = alerts.add_parser("test", parents=[verbose], help="send a test message to a channel")
    test.add_argument("--channel", required=True, metavar="NAME")
    alerts.add_parser("retry-dead", parents=[verbose], help="queue every dead-letter delivery again")
    move = commands.add_parser(
        "migrate-store",
        parents=[verbose],
        help="copy the DuckDB file into a PostgreSQL database (one transaction, row counts verified)",
    )
    move.add_argument("--to", required=True, metavar="postgresql://…", help="the target database (empty)")
    move.add_argument("--from", dest="source", type=Path, metavar="FILE", help="the DuckDB file (default: PW_DB_PATH)")
    move.add_argument("--replace", action="store_true", help="empty a target that already holds data first")
    commands.add_parser(
        "worker",
        parents=[verbose],
        help="run Check for updates tasks, the daily schedule, housekeeping and alerts until SIGTERM",
    )
    return parser


def member_filter(args: argparse.Namespace) -> MemberFilter:
    """export-members' options as the Members page's filter."""
    return MemberFilter(
        partners=tuple(args.partner),
        roles=tuple(args.role),
        statuses=tuple(args.status),
        flags=tuple(args.flag),
        search=args.search,
        include_removed=args.include_removed,
        sort=args.sort,
        descending=args.desc,
    )
