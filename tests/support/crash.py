"""Processes to kill mid-write: a PartnerWatch command run with one test hook."""

from __future__ import annotations

import textwrap


def mid_write_child(command: str) -> str:
    """The source of a `python -c` child that runs `python -m core.cli <command>` with one hook: after a partner's
    new members are inserted (the transaction still open, nothing committed) it prints MID-WRITE and waits to be
    killed."""
    return textwrap.dedent(f"""
        import sys, time
        from core import cli
        from core.sync import member_write
        real = member_write._insert_members
        def hooked(cur, rows):
            real(cur, rows)
            if rows.num_rows:
                print("MID-WRITE", flush=True)
                time.sleep(120)
        member_write._insert_members = hooked
        sys.exit(cli.main([{command!r}]))
    """)
