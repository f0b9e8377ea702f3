"""`admins add|list|disable|reset-password`: console accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, admin_id, command, group, with_runtime
from bot.errors import CommandError

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(commands: Subcommands) -> None:
    """Add the `admins` group."""
    admins = group(commands, "admins", "console accounts")
    about = "add an account (password asked twice, or --password-stdin)"
    add = command(admins, "add", about, with_runtime(admins_add), "name")
    add.add_argument("--role", required=True, help="city, reviewer, auditor or base:<base id>")
    add.add_argument("--password-stdin", action="store_true")
    command(admins, "list", "accounts", with_runtime(admins_list))
    command(admins, "disable", "disable an account", with_runtime(admins_disable), "name")
    about = "a new password"
    reset = command(admins, "reset-password", about, with_runtime(admins_reset_password), "name")
    reset.add_argument("--password-stdin", action="store_true")


async def admins_add(runtime: Runtime, args: argparse.Namespace) -> None:
    """A console account."""
    password = read_password(args.password_stdin)
    account = await runtime.admins.add(args.name, args.role, password, admin_id())
    print(f"account {account.name} ({account.role}) added")


async def admins_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """Console accounts, a line each."""
    for account in await runtime.admins.all():
        state = "disabled" if account.disabled else "active"
        print(f"{account.name}\t{account.role}\t{state}\tsince {account.created[:10]}")


async def admins_disable(runtime: Runtime, args: argparse.Namespace) -> None:
    """Disable a console account."""
    await runtime.admins.disable(args.name, admin_id())
    print(f"account {args.name} disabled; its sessions end at their next request")


async def admins_reset_password(runtime: Runtime, args: argparse.Namespace) -> None:
    """A new password for a console account (enabled again)."""
    password = read_password(args.password_stdin)
    await runtime.admins.reset_password(args.name, password, admin_id())
    print(f"account {args.name}: password changed")


def read_password(from_stdin: bool) -> str:
    """A new password: the first line of standard input, or asked twice at the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ; nothing changed")
    return first
