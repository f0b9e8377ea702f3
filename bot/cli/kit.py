"""What every command group shares: adding commands and groups to the parser, running a
command over an open runtime or the bare store, and who is at the terminal.

Nothing here imports the core at import time: `python -m bot --help` builds the whole parser
without opening Redis, the web server or a platform library.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runtime import Runtime
    from bot.services.audit import Actor
    from bot.store import Store

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run: TypeAlias = Callable[[argparse.Namespace], "int | None"]  # an exit status, or None: 0
Command: TypeAlias = "Callable[[Runtime, argparse.Namespace], Awaitable[int | None]]"
StoreCommand: TypeAlias = "Callable[[Store, argparse.Namespace], Awaitable[int | None]]"


def command(
    parent: Subcommands, name: str, about: str, run: Run, *positionals: str, **options: Any
) -> argparse.ArgumentParser:
    """A command `name` under `parent`, running `run`, with plain positional arguments
    (`options` go to the parser: a formatter, an epilog)."""
    parser: argparse.ArgumentParser = parent.add_parser(name, help=about, **options)
    for positional in positionals:
        parser.add_argument(positional)
    parser.set_defaults(run=run)
    return parser


def group(parent: Subcommands, name: str, about: str) -> Subcommands:
    """A command group `name` whose action is required."""
    found: Subcommands = parent.add_parser(name, help=about).add_subparsers(
        dest="action", required=True
    )
    return found


def positive(raw: str) -> int:
    """A whole number of at least one (argparse answers anything else with exit 2)."""
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def with_runtime(run: Command) -> Run:
    """A command over an open runtime (Redis, embedded or not, closed afterwards) with the
    WeChat Pay client attached when one is configured."""

    def inside(args: argparse.Namespace) -> int | None:
        from bot.channels.platforms import open_gateway
        from bot.config import load_settings
        from bot.loop import run as run_loop
        from bot.ops.embedded import redis_address
        from bot.runtime import open_runtime

        async def opened() -> int | None:
            settings = load_settings()
            async with (
                redis_address(settings) as url,
                open_runtime(settings, url) as runtime,
                open_gateway(runtime, settings),
            ):
                return await run(runtime, args)

        return run_loop(opened())

    return inside


def with_store(run: StoreCommand, decode: bool = True) -> Run:
    """A command over the bare store (no secret is made, nothing else is opened);
    `decode=False` answers bytes (backups)."""

    def inside(args: argparse.Namespace) -> int | None:
        from bot.config import load_settings
        from bot.loop import run as run_loop
        from bot.ops.embedded import redis_address
        from bot.runtime import open_store

        async def opened() -> int | None:
            settings = load_settings()
            async with redis_address(settings) as url, open_store(settings, url, decode) as store:
                return await run(store, args)

        return run_loop(opened())

    return inside


def warn(settings: Settings) -> None:
    """Say loudly, on standard error, what is allowed but probably wrong."""
    from bot.config import warnings

    for warning in warnings(settings):
        print(f"\n*** WARNING: {warning}\n", file=sys.stderr, flush=True)


def ask(prompt: str) -> str:
    """A yes/no answer typed at the terminal, lower case ("" at the end of input)."""
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


def cli_actor() -> Actor:
    """Who is at the terminal."""
    from bot.services.audit import Actor

    try:
        return Actor.cli(getpass.getuser())
    except (KeyError, OSError):
        return Actor.cli(f"uid{os.getuid()}")


def admin_id() -> str:
    """Who is at the terminal, as histories and the audit log record it (`cli:USER`)."""
    return str(cli_actor())
