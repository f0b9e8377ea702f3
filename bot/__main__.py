"""python -m bot serve | worker | shell | slots | checkin | broadcast | telegram | wechat."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable

from bot import admin_cli
from bot.app import serve
from bot.config import load_settings
from bot.errors import BotError
from bot.handlers.shell import Shell
from bot.handlers.telegram import set_webhook
from bot.handlers.wechat import create_menu
from bot.runtime import Runtime, open_runtime
from bot.store_broadcasts import Broadcast


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Wuxi tree-planting bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="the web server: chats, webhooks, verification, metrics")
    commands.add_parser("worker", help="reminders, no-shows and notifications")
    commands.add_parser("shell", help="chat with the bot in this terminal")
    slots = commands.add_parser("slots", help="volunteer slots").add_subparsers(
        dest="action", required=True
    )
    add = slots.add_parser("add", help="add a slot (times in Asia/Shanghai)")
    for option in ("--base", "--date", "--start", "--end", "--capacity"):
        add.add_argument(option, required=True)
    add.add_argument("--task")
    listing = slots.add_parser("list", help="list slots")
    listing.add_argument("--base")
    listing.add_argument("--date")
    slots.add_parser("cancel", help="cancel a slot; its volunteers are told").add_argument("slot")
    slots.add_parser("import", help="add slots from a CSV").add_argument("file")
    commands.add_parser("checkin", help="check a volunteer in").add_argument("code")
    broadcast = commands.add_parser("broadcast", help="planting appeals").add_subparsers(
        dest="action", required=True
    )
    create = broadcast.add_parser("create", help="compose an appeal, see the audience, send")
    create.add_argument("--text", required=True, help="file with the Chinese text")
    create.add_argument("--text-en", help="file with the English text")
    create.add_argument("--image", help="a PNG to send along")
    create.add_argument("--channel", default="all", choices=("telegram", "wechat", "all"))
    create.add_argument("--lang", default="all", choices=("zh", "en", "all"))
    create.add_argument("--base", default="", help="only people who pledged at this base")
    create.add_argument("--at", help='"YYYY-MM-DD HH:MM" (Asia/Shanghai); default now')
    create.add_argument(
        "--wechat-mass", action="store_true", help="also use WeChat's mass send (monthly quota)"
    )
    create.add_argument("--yes", action="store_true", help="send without asking")
    broadcast.add_parser("list", help="recent appeals")
    broadcast.add_parser("status", help="progress of one appeal").add_argument("id")
    broadcast.add_parser("cancel", help="stop an appeal").add_argument("id")
    telegram = commands.add_parser("telegram", help="Telegram set-up").add_subparsers(
        dest="action", required=True
    )
    telegram.add_parser("set-webhook", help="register URL (https://.../telegram)").add_argument(
        "url"
    )
    wechat = commands.add_parser("wechat", help="WeChat set-up").add_subparsers(
        dest="action", required=True
    )
    wechat.add_parser("menu", help="create the custom menu (pledge, mine, more)")
    return parser


async def _slots(runtime: Runtime, args: argparse.Namespace) -> None:
    if args.action == "add":
        slot = admin_cli.parse_slot(
            runtime.catalog, args.base, args.date, args.start, args.end, args.capacity, args.task
        )
        print(f"slot {(await admin_cli.add_slots(runtime, [slot]))[0]} added")
    elif args.action == "import":
        slots = admin_cli.read_csv_file(runtime.catalog, args.file)
        print(f"{len(await admin_cli.add_slots(runtime, slots))} slots added")
    elif args.action == "cancel":
        told = await admin_cli.cancel_slot(runtime, args.slot)
        print(f"slot {args.slot} cancelled; {told} volunteers will be told")
    else:
        print("\n".join(await admin_cli.list_slots(runtime, args.base, args.date)) or "no slots")


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


async def _broadcast(runtime: Runtime, args: argparse.Namespace) -> None:
    broadcaster = runtime.broadcaster
    if args.action == "create":
        draft = Broadcast(
            "",
            admin_cli.read_text(args.text),
            admin_cli.read_text(args.text_en),
            args.channel,
            args.lang,
            args.base,
            admin_cli.parse_at(runtime.catalog, args.at),
            wechat_mass=args.wechat_mass,
        )
        image = admin_cli.read_image(args.image)
        size = await broadcaster.audience_size(draft)
        print(f"{draft.text_zh or draft.text_en}\n\naudience: {size} subscribers")
        if not args.yes and _ask("send it? [y/N] ") != "y":
            print("not sent")
            return
        bc = await broadcaster.create(draft, image)
        print(f"appeal #{bc.id} queued for {bc.total} subscribers; the worker sends it")
    elif args.action == "cancel":
        if not await broadcaster.cancel(args.id):
            raise admin_cli.SlotError(f"appeal {args.id!r} is not scheduled or sending")
        print(f"appeal #{args.id} cancelled")
    elif args.action == "status":
        found = await broadcaster.store.get(args.id)
        if found is None:
            raise admin_cli.SlotError(f"there is no appeal {args.id!r}")
        print("\n".join(admin_cli.progress(found)))
    else:
        for bc in await broadcaster.store.recent():
            print(admin_cli.progress(bc)[0])


def _with_runtime(args: argparse.Namespace) -> Callable[[Runtime], Awaitable[None]]:
    async def shell(runtime: Runtime) -> None:
        await Shell(runtime).run()

    async def checkin(runtime: Runtime) -> None:
        print(await admin_cli.check_in(runtime, args.code))

    async def menu(runtime: Runtime) -> None:
        await create_menu(runtime.settings, runtime.redis_url)
        print("WeChat menu created")

    async def slots(runtime: Runtime) -> None:
        await _slots(runtime, args)

    async def broadcast(runtime: Runtime) -> None:
        await _broadcast(runtime, args)

    return {
        "shell": shell,
        "checkin": checkin,
        "wechat": menu,
        "slots": slots,
        "broadcast": broadcast,
        "worker": admin_cli.run_worker,
    }[args.command]


async def _run(command: Callable[[Runtime], Awaitable[None]]) -> None:
    async with open_runtime(load_settings()) as runtime:
        await command(runtime)


def main(argv: list[str] | None = None) -> int:
    """Run a command; configuration and input faults print a clear message and exit 2."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "serve":
            logging.getLogger("bot").setLevel(logging.INFO)
            serve(load_settings())
        elif args.command == "telegram":
            asyncio.run(set_webhook(load_settings(), args.url))
            print(f"webhook set: {args.url}")
        else:
            asyncio.run(_run(_with_runtime(args)))
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
