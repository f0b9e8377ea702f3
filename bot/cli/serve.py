"""`serve`, `worker` and `shell`: the bot itself, its worker apart, and a chat in this terminal."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, command, positive, warn, with_runtime

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(commands: Subcommands) -> None:
    """Add `serve`, `worker` and `shell`."""
    about = "the whole bot: chats, webhooks, pages, the console, and the worker's loops"
    serving = command(commands, "serve", about, serve, formatter_class=WithEnvironment)
    serving.add_argument(
        "--processes",
        type=positive,
        default=1,
        help="web processes sharing one socket (default 1)",
    )
    serving.add_argument(
        "--no-worker",
        dest="worker",
        action="store_false",
        help="do not run the worker's loops (run python -m bot worker apart)",
    )
    command(commands, "worker", "reminders, no-shows, notices and appeals", with_runtime(worker))
    command(commands, "shell", "chat with the bot in this terminal", with_runtime(shell))


class WithEnvironment(argparse.HelpFormatter):
    """`serve --help` ends with the environment variables it reads (read only when asked)."""

    def format_help(self) -> str:
        from bot.config import variables

        lines = [f"  {v.name:<26} {v.help}" for _, v in variables()]
        environment = "\n".join(["environment (all optional; .env is read too):", *lines])
        return f"{super().format_help()}\n{environment}\n"


def serve(args: argparse.Namespace) -> None:
    """The web server."""
    from bot.config import load_settings
    from bot.loop import run as run_loop
    from bot.runtime import ensure_durable
    from bot.web.app import serve as serve_app
    from bot.web.supervisor import Supervisor, inherited_socket

    logging.getLogger("bot").setLevel(logging.INFO)
    settings = load_settings()
    warn(settings)
    run_loop(ensure_durable(settings))
    if args.processes > 1 and not inherited_socket():
        sys.exit(Supervisor(settings, args.processes, args.worker).run())
    serve_app(settings, args.worker)


async def worker(runtime: Runtime, args: argparse.Namespace) -> None:
    """Reminders, no-shows, notices and appeals."""
    from bot.runtime import ensure_durable
    from bot.worker.loop import run_worker

    warn(runtime.settings)
    await ensure_durable(runtime.settings)
    await run_worker(runtime)


async def shell(runtime: Runtime, args: argparse.Namespace) -> None:
    """Chat in this terminal."""
    from bot.channels.shell import Shell

    await Shell(runtime.engine, runtime.certificates).run()
