"""`telegram set-webhook URL` and `wechat menu`: registering the bot with its platforms."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, command, group, with_runtime

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(commands: Subcommands) -> None:
    """Add the `telegram` and `wechat` groups."""
    telegram = group(commands, "telegram", "Telegram set-up")
    about = "register URL (https://.../telegram)"
    command(telegram, "set-webhook", about, telegram_webhook, "url")
    wechat = group(commands, "wechat", "WeChat set-up")
    about = "create the custom menu (pledge, mine, more)"
    command(wechat, "menu", about, with_runtime(wechat_menu))


def telegram_webhook(args: argparse.Namespace) -> None:
    """Register the Telegram webhook."""
    from bot.channels.telegram.inbound import set_webhook
    from bot.config import load_settings
    from bot.loop import run as run_loop

    run_loop(set_webhook(load_settings(), args.url))
    print(f"webhook set: {args.url}")


async def wechat_menu(runtime: Runtime, args: argparse.Namespace) -> None:
    """Create the WeChat custom menu."""
    from bot.channels.wechat.inbound import create_menu

    await create_menu(runtime.settings, runtime.redis_url)
    print("WeChat menu created")
