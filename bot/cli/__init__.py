"""python -m bot <command>: one module per command group, each adding its own commands to the
parser; a command imports what it uses when it runs, so `--help` answers at once.

Configuration and input faults print a clear message and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from bot.cli import admins, broadcast, fulfilment, ops, platforms, reports, serve, slots, teams
from bot.errors import BotError

GROUPS = (serve, slots, broadcast, teams, admins, fulfilment, reports, ops, platforms)


def parser() -> argparse.ArgumentParser:
    """Every command of every group."""
    made = argparse.ArgumentParser(prog="python -m bot", description="Wuxi tree-planting bot")
    commands = made.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return made


def main(argv: list[str] | None = None) -> int:
    """Run a command; configuration and input faults print a clear message and exit 2."""
    args = parser().parse_args(argv)
    try:
        from bot import logs
        from bot.config import load_settings

        logs.setup(load_settings().log_json)
        status: int | None = args.run(args)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status or 0
