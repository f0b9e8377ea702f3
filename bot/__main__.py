"""python -m bot serve | shell | telegram set-webhook URL | wechat menu: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.app import serve
from bot.config import load_settings
from bot.errors import BotError
from bot.handlers.shell import Shell
from bot.handlers.telegram import set_webhook
from bot.handlers.wechat import create_menu
from bot.runtime import open_runtime


async def _shell() -> None:
    async with open_runtime(load_settings()) as runtime:
        await Shell(runtime).run()


async def _wechat_menu() -> None:
    settings = load_settings()
    async with open_runtime(settings) as runtime:
        await create_menu(settings, runtime.redis_url)


def main(argv: list[str] | None = None) -> int:
    """Parse the command and run it; configuration faults print a clear message and exit 2."""
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Wuxi tree-planting duty bot"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="the web server: web chat, verification, health, metrics")
    commands.add_parser("shell", help="chat with the bot in this terminal")
    tg = commands.add_parser("telegram", help="Telegram set-up")
    tg_commands = tg.add_subparsers(dest="action", required=True)
    hook = tg_commands.add_parser("set-webhook", help="register URL (https://.../telegram)")
    hook.add_argument("url")
    wx = commands.add_parser("wechat", help="WeChat Official Account set-up")
    wx_commands = wx.add_subparsers(dest="action", required=True)
    wx_commands.add_parser("menu", help="create the custom menu (pledge, mine, more)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            logging.getLogger("bot").setLevel(logging.INFO)
            serve(load_settings())
        elif args.command == "shell":
            asyncio.run(_shell())
        elif args.command == "wechat":
            asyncio.run(_wechat_menu())
            print("WeChat menu created")
        elif args.command == "telegram":
            asyncio.run(set_webhook(load_settings(), args.url))
            print(f"webhook set: {args.url}")
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
