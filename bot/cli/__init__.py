"""python -m bot serve | worker | shell | slots | checkin | broadcast | admins | payments |
claims | stats | export | backup | restore | migrate | doctor | telegram | wechat.

Each command is one function (argparse `set_defaults`); commands that need the core get an open
Runtime. Configuration and input faults print a clear message and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO, TypeAlias

import aiohttp

from bot import config, logs
from bot.catalog import load_catalog
from bot.channels.platforms import open_gateway
from bot.channels.shell import Shell
from bot.channels.telegram.inbound import set_webhook
from bot.channels.wechat.inbound import create_menu
from bot.cli import admin as admin_cli
from bot.cli import fulfilment as fulfilment_cli
from bot.config import Settings, load_settings
from bot.errors import BotError, CommandError
from bot.loop import run as run_loop
from bot.ops import backup, doctor
from bot.ops.embedded import redis_address
from bot.ops.migrate import migrate
from bot.runtime import Runtime, ensure_durable, open_runtime, open_store
from bot.services import exports, reports
from bot.services import slots as slot_input
from bot.store import Store
from bot.store.broadcasts import Broadcast
from bot.web.app import serve
from bot.web.supervisor import Supervisor, inherited_socket
from bot.worker.outbox import run_worker

Command = Callable[[Runtime, argparse.Namespace], Awaitable[None]]
StoreCommand = Callable[[Store, argparse.Namespace], Awaitable[None]]


# -- commands over the core ---------------------------------------------------------------------


async def shell(runtime: Runtime, args: argparse.Namespace) -> None:
    """Chat in this terminal."""
    await Shell(runtime.engine, runtime.certificates).run()


async def worker(runtime: Runtime, args: argparse.Namespace) -> None:
    """Reminders, no-shows, notices and appeals."""
    _warn(runtime.settings)
    await ensure_durable(runtime.settings)
    await run_worker(runtime)


async def slots_add(runtime: Runtime, args: argparse.Namespace) -> None:
    """Add one slot."""
    slot = slot_input.parse_slot(
        runtime.catalog, args.base, args.date, args.start, args.end, args.capacity, args.task
    )
    print(f"slot {(await slot_input.add_slots(runtime.bookings, [slot]))[0]} added")


async def slots_import(runtime: Runtime, args: argparse.Namespace) -> None:
    """Add the slots of a CSV file."""
    slots = admin_cli.read_csv_file(runtime.catalog, args.file)
    print(f"{len(await slot_input.add_slots(runtime.bookings, slots))} slots added")


async def slots_cancel(runtime: Runtime, args: argparse.Namespace) -> None:
    """Cancel a slot; its volunteers are told."""
    told = await admin_cli.cancel_slot(runtime.bookings, args.slot)
    print(f"slot {args.slot} cancelled; {told} volunteers will be told")


async def slots_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """List slots."""
    lines = await admin_cli.list_slots(runtime.bookings, args.base, args.date)
    print("\n".join(lines) or "no slots")


async def checkin(runtime: Runtime, args: argparse.Namespace) -> None:
    """Check a volunteer in by code."""
    print(await admin_cli.check_in(runtime.bookings, args.code))


async def broadcast_create(runtime: Runtime, args: argparse.Namespace) -> None:
    """Compose an appeal, show its audience, and queue it when confirmed."""
    draft = Broadcast(
        id="",
        text_zh=admin_cli.read_text(args.text),
        text_en=admin_cli.read_text(args.text_en),
        channel=args.channel,
        lang=args.lang,
        base=args.base,
        at=admin_cli.parse_at(runtime.catalog, args.at),
        wechat_mass=args.wechat_mass,
    )
    image = admin_cli.read_image(args.image)
    size = await runtime.appeals.audience_size(draft)
    print(f"{draft.text_zh or draft.text_en}\n\naudience: {size} subscribers")
    if not args.yes and _ask("send it? [y/N] ") != "y":
        print("not sent")
        return
    bc = await runtime.appeals.create(draft, image)
    print(f"appeal #{bc.id} queued for {bc.total} subscribers; the worker sends it")


async def broadcast_cancel(runtime: Runtime, args: argparse.Namespace) -> None:
    """Stop an appeal."""
    if not await runtime.appeals.cancel(args.id):
        raise CommandError(f"appeal {args.id!r} is not scheduled or sending")
    print(f"appeal #{args.id} cancelled")


async def broadcast_status(runtime: Runtime, args: argparse.Namespace) -> None:
    """The progress of one appeal."""
    found = await runtime.appeals.get(args.id)
    if found is None:
        raise CommandError(f"there is no appeal {args.id!r}")
    print("\n".join(admin_cli.progress(found)))


async def broadcast_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """Recent appeals, a line each."""
    for bc in await runtime.appeals.recent():
        print(admin_cli.progress(bc)[0])


async def admins_add(runtime: Runtime, args: argparse.Namespace) -> None:
    """A console account."""
    password = admin_cli.read_password(args.password_stdin)
    account = await runtime.admins.add(args.name, args.role, password, admin_cli.admin_id())
    print(f"account {account.name} ({account.role}) added")


async def admins_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """Console accounts, a line each."""
    for account in await runtime.admins.all():
        state = "disabled" if account.disabled else "active"
        print(f"{account.name}\t{account.role}\t{state}\tsince {account.created[:10]}")


async def admins_disable(runtime: Runtime, args: argparse.Namespace) -> None:
    """Disable a console account."""
    await runtime.admins.disable(args.name, admin_cli.admin_id())
    print(f"account {args.name} disabled; its sessions end at their next request")


async def admins_reset_password(runtime: Runtime, args: argparse.Namespace) -> None:
    """A new password for a console account (enabled again)."""
    password = admin_cli.read_password(args.password_stdin)
    await runtime.admins.reset_password(args.name, password, admin_cli.admin_id())
    print(f"account {args.name}: password changed")


async def payments_import(runtime: Runtime, args: argparse.Namespace) -> None:
    """Fulfil the pledges a receipts CSV pays (link-out donations)."""
    print("\n".join(await fulfilment_cli.import_receipts(runtime, Path(args.file))))


async def payments_refund(runtime: Runtime, args: argparse.Namespace) -> None:
    """Refund a pledge paid by WeChat Pay."""
    print(await fulfilment_cli.refund(runtime, args.pledge, args.reason))


async def payments_flagged(runtime: Runtime, args: argparse.Namespace) -> None:
    """Payments to look at: late, mismatched, for a pledge no longer waiting."""
    print("\n".join(await fulfilment_cli.flagged(runtime)) or "nothing flagged")


async def claims_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """The claims waiting for review."""
    print("\n".join(await fulfilment_cli.list_claims(runtime)))


async def claims_show(runtime: Runtime, args: argparse.Namespace) -> None:
    """One claim and its photo."""
    print("\n".join(await fulfilment_cli.show_claim(runtime, args.id)))


async def claims_approve(runtime: Runtime, args: argparse.Namespace) -> None:
    """Approve a claim: the pledge is fulfilled and its certificate sent."""
    print(await fulfilment_cli.decide(runtime, args.id, True, ""))


async def claims_reject(runtime: Runtime, args: argparse.Namespace) -> None:
    """Reject a claim with a reason the citizen is told."""
    print(await fulfilment_cli.decide(runtime, args.id, False, args.reason))


def _period(runtime: Runtime, args: argparse.Namespace) -> reports.Period:
    return reports.Period.parse(runtime.catalog, args.since, args.until, args.base)


async def stats(runtime: Runtime, args: argparse.Namespace) -> None:
    """Pledges by status, trees fulfilled, amounts paid and claims waiting, per base and form."""
    period = _period(runtime, args)
    lines = await reports.stats(runtime.pledges, runtime.payments, runtime.claims, period)
    print("\n".join(lines))


async def export_pledges(runtime: Runtime, args: argparse.Namespace) -> None:
    """Pledges as CSV, UTF-8 with BOM so that Excel opens it."""
    export = exports.Export(exports.Kind.PLEDGES, _period(runtime, args))
    with _csv_output(args.output) as out:
        count = await exports.write_csv(exports.rows(runtime, export), out)
    print(f"{count} pledges exported", file=sys.stderr)


def _csv_output(name: str) -> TextIO:
    """A file (or standard output, "-") to write CSV to, UTF-8 with BOM."""
    if name == "-":
        return open(sys.stdout.fileno(), "w", encoding="utf-8-sig", newline="", closefd=False)
    return open(name, "w", encoding="utf-8-sig", newline="")


async def wechat_menu(runtime: Runtime, args: argparse.Namespace) -> None:
    """Create the WeChat custom menu."""
    await create_menu(runtime.settings, runtime.redis_url)
    print("WeChat menu created")


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


# -- commands without the core ------------------------------------------------------------------


def serve_command(args: argparse.Namespace) -> None:
    """The web server."""
    logging.getLogger("bot").setLevel(logging.INFO)
    settings = load_settings()
    _warn(settings)
    run_loop(ensure_durable(settings))
    if args.processes > 1 and not inherited_socket():
        sys.exit(Supervisor(settings, args.processes).run())
    serve(settings)


def _warn(settings: Settings) -> None:
    """Say loudly, on standard error, what is allowed but probably wrong."""
    for warning in config.warnings(settings):
        print(f"\n*** WARNING: {warning}\n", file=sys.stderr, flush=True)


def with_store(command: StoreCommand, decode: bool = True) -> Callable[[argparse.Namespace], None]:
    """A command over the bare store (no secret is made, nothing else is opened);
    `decode=False` answers bytes (backups)."""

    def run(args: argparse.Namespace) -> None:
        async def inside() -> None:
            settings = load_settings()
            async with redis_address(settings) as url, open_store(settings, url, decode) as store:
                await command(store, args)

        run_loop(inside())

    return run


async def backup_command(store: Store, args: argparse.Namespace) -> None:
    """Write a backup of every record."""
    header = await backup.take(store.redis, store.keys, Path(args.file), args.with_evidence)
    print(f"{header.items} items backed up to {args.file}")


async def restore_command(store: Store, args: argparse.Namespace) -> None:
    """Load a backup into an empty store."""
    path = Path(args.file)
    done = await backup.restore(store.redis, store.keys, path, args.force, args.other_prefix)
    print(f"{done.header.items} items restored from {path} (taken {done.header.taken_at})")
    if done.remade:
        print(f"{done.remade} index keys of pledges written during the backup made again")


async def migrate_command(store: Store, args: argparse.Namespace) -> None:
    """Bring every record to the version this code writes (resumable)."""
    report = await migrate(store)
    print("\n".join(report.lines()))
    if report.left:
        raise CommandError(f"{len(report.left)} records left as they were (named above)")


def doctor_command(args: argparse.Namespace) -> None:
    """Check the deployment and print each finding with its fix; exit 1 if any fails."""

    async def inside() -> bool:
        settings = load_settings()
        async with (
            redis_address(settings) as url,
            open_store(settings, url) as store,
            aiohttp.ClientSession() as session,
        ):
            found = await doctor.examine(settings, store, load_catalog(), session)
        print("\n".join(line for finding in found for line in finding.lines()))
        return doctor.healthy(found)

    if not run_loop(inside()):
        print("\nsome checks failed: fix them and run doctor again", file=sys.stderr)
        sys.exit(1)
    print("\nall is well")


def telegram_webhook(args: argparse.Namespace) -> None:
    """Register the Telegram webhook."""
    run_loop(set_webhook(load_settings(), args.url))
    print(f"webhook set: {args.url}")


def with_runtime(command: Command) -> Callable[[argparse.Namespace], None]:
    """A command over an open runtime (Redis, embedded or not, closed afterwards)."""

    def run(args: argparse.Namespace) -> None:
        async def inside() -> None:
            settings = load_settings()
            async with (
                redis_address(settings) as url,
                open_runtime(settings, url) as runtime,
                open_gateway(runtime, settings),
            ):
                await command(runtime, args)

        run_loop(inside())

    return run


# -- the parser ---------------------------------------------------------------------------------


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _command(
    parent: Subcommands,
    name: str,
    about: str,
    run: Callable[[argparse.Namespace], None],
    *positionals: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = parent.add_parser(name, help=about)
    for positional in positionals:
        parser.add_argument(positional)
    parser.set_defaults(run=run)
    return parser


def _group(parent: Subcommands, name: str, about: str) -> Subcommands:
    group: Subcommands = parent.add_parser(name, help=about).add_subparsers(
        dest="action", required=True
    )
    return group


def _positive(raw: str) -> int:
    """A whole number of at least one (argparse answers anything else with exit 2)."""
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Wuxi tree-planting bot")
    commands = parser.add_subparsers(dest="command", required=True)
    about = "the web server: chats, webhooks, verification, metrics"
    serving = _command(commands, "serve", about, serve_command)
    serving.add_argument(
        "--processes",
        type=_positive,
        default=1,
        help="web processes sharing one socket (default 1)",
    )
    _command(commands, "worker", "reminders, no-shows, notices and appeals", with_runtime(worker))
    _command(commands, "shell", "chat with the bot in this terminal", with_runtime(shell))
    _command(commands, "checkin", "check a volunteer in", with_runtime(checkin), "code")
    _slot_commands(_group(commands, "slots", "volunteer slots"))
    _broadcast_commands(_group(commands, "broadcast", "planting appeals"))
    _admin_commands(_group(commands, "admins", "console accounts"))
    _payment_commands(_group(commands, "payments", "donations: receipts, refunds"))
    _claim_commands(_group(commands, "claims", "claims with evidence: review"))
    _period_options(_command(commands, "stats", "figures per base and form", with_runtime(stats)))
    export = _group(commands, "export", "exports for reports (CSV)")
    about = "pledges as CSV (UTF-8 with BOM), no names"
    pledges = _period_options(_command(export, "pledges", about, with_runtime(export_pledges)))
    pledges.add_argument("-o", "--output", default="-", help="a file (default: standard output)")
    about = "write every record to FILE (gzip JSON lines); never sessions or marks"
    saving = _command(commands, "backup", about, with_store(backup_command, decode=False), "file")
    saving.add_argument("--with-evidence", action="store_true", help="claim photos too")
    about = "load a backup FILE into an empty store"
    loading = _command(
        commands, "restore", about, with_store(restore_command, decode=False), "file"
    )
    loading.add_argument(
        "--force", action="store_true", help="into a non-empty store: replace the keys it holds"
    )
    loading.add_argument(
        "--other-prefix", action="store_true", help="a backup taken under another key prefix"
    )
    about = "check this deployment: store, public address, platforms, fonts, clock"
    _command(commands, "doctor", about, doctor_command)
    about = "bring every stored record to this version's shape (resumes if interrupted)"
    _command(commands, "migrate", about, with_store(migrate_command))
    telegram = _group(commands, "telegram", "Telegram set-up")
    about = "register URL (https://.../telegram)"
    _command(telegram, "set-webhook", about, telegram_webhook, "url")
    wechat = _group(commands, "wechat", "WeChat set-up")
    about = "create the custom menu (pledge, mine, more)"
    _command(wechat, "menu", about, with_runtime(wechat_menu))
    return parser


def _slot_commands(slots: Subcommands) -> None:
    add = _command(slots, "add", "add a slot (times in Asia/Shanghai)", with_runtime(slots_add))
    for option in ("--base", "--date", "--start", "--end", "--capacity"):
        add.add_argument(option, required=True)
    add.add_argument("--task")
    listing = _command(slots, "list", "list slots", with_runtime(slots_list))
    listing.add_argument("--base")
    listing.add_argument("--date")
    about = "cancel a slot; its volunteers are told"
    _command(slots, "cancel", about, with_runtime(slots_cancel), "slot")
    _command(slots, "import", "add slots from a CSV", with_runtime(slots_import), "file")


def _broadcast_commands(broadcast: Subcommands) -> None:
    about = "compose an appeal, see the audience, send"
    create = _command(broadcast, "create", about, with_runtime(broadcast_create))
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
    _command(broadcast, "list", "recent appeals", with_runtime(broadcast_list))
    _command(broadcast, "status", "progress of one appeal", with_runtime(broadcast_status), "id")
    _command(broadcast, "cancel", "stop an appeal", with_runtime(broadcast_cancel), "id")


def _admin_commands(admins: Subcommands) -> None:
    about = "add an account (password asked twice, or --password-stdin)"
    add = _command(admins, "add", about, with_runtime(admins_add), "name")
    add.add_argument("--role", required=True, help="city, reviewer, auditor or base:<base id>")
    add.add_argument("--password-stdin", action="store_true")
    _command(admins, "list", "accounts", with_runtime(admins_list))
    _command(admins, "disable", "disable an account", with_runtime(admins_disable), "name")
    about = "a new password"
    reset = _command(admins, "reset-password", about, with_runtime(admins_reset_password), "name")
    reset.add_argument("--password-stdin", action="store_true")


def _payment_commands(payments: Subcommands) -> None:
    about = "fulfil the pledges a receipts CSV pays (reference,amount_yuan,paid_at,receipt_no)"
    _command(payments, "import", about, with_runtime(payments_import), "file")
    about = "refund a pledge paid by WeChat Pay; its certificate is then revoked"
    refund = _command(payments, "refund", about, with_runtime(payments_refund), "pledge")
    refund.add_argument("--reason", required=True)
    _command(payments, "flagged", "payments to look at", with_runtime(payments_flagged))


def _claim_commands(claims: Subcommands) -> None:
    _command(claims, "list", "claims waiting for review", with_runtime(claims_list))
    _command(claims, "show", "one claim and its photo", with_runtime(claims_show), "id")
    about = "approve: fulfil the pledge, send the certificate"
    _command(claims, "approve", about, with_runtime(claims_approve), "id")
    about = "reject with a reason the citizen is told"
    reject = _command(claims, "reject", about, with_runtime(claims_reject), "id")
    reject.add_argument("--reason", required=True)


def _period_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (Asia/Shanghai)")
    parser.add_argument("--to", dest="until", help="last day, YYYY-MM-DD")
    parser.add_argument("--base", help="one base id")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; configuration and input faults print a clear message and exit 2."""
    args = _parser().parse_args(argv)
    try:
        logs.setup(load_settings().log_json)
        args.run(args)
    except BotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
