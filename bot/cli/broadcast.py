"""`broadcast create|list|status|cancel`: planting appeals from the command line."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, ask, command, group, with_runtime
from bot.errors import CommandError

if TYPE_CHECKING:
    from bot.catalog import Catalog
    from bot.runtime import Runtime
    from bot.store.broadcasts import Broadcast

MAX_TEXT = 2000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def register(commands: Subcommands) -> None:
    """Add the `broadcast` group."""
    broadcast = group(commands, "broadcast", "planting appeals")
    about = "compose an appeal, see the audience, send"
    create = command(broadcast, "create", about, with_runtime(broadcast_create))
    create.add_argument("--text", required=True, help="file with the Chinese text")
    create.add_argument("--text-en", help="file with the English text")
    create.add_argument("--image", help="a PNG to send along")
    create.add_argument("--channel", default="all", choices=("telegram", "wechat", "all"))
    create.add_argument("--lang", default="all", choices=("zh", "en", "all"))
    create.add_argument("--base", default="", help="only people who pledged at this base")
    create.add_argument(
        "--duty",
        default="all",
        choices=("all", "open", "few", "unbooked"),
        help="only people with duty left: open (a pledge not fulfilled), few (fewer than 3 "
        "trees fulfilled this year), unbooked (no slot booked this year)",
    )
    create.add_argument("--team", default="", help="only the members of this team (its code)")
    create.add_argument("--at", help='"YYYY-MM-DD HH:MM" (Asia/Shanghai); default now')
    create.add_argument(
        "--wechat-mass", action="store_true", help="also use WeChat's mass send (monthly quota)"
    )
    create.add_argument("--yes", action="store_true", help="send without asking")
    command(broadcast, "list", "recent appeals", with_runtime(broadcast_list))
    command(broadcast, "status", "progress of one appeal", with_runtime(broadcast_status), "id")
    command(broadcast, "cancel", "stop an appeal", with_runtime(broadcast_cancel), "id")


async def broadcast_create(runtime: Runtime, args: argparse.Namespace) -> None:
    """Compose an appeal, show its audience, and queue it when confirmed."""
    from bot.store.broadcasts import AudienceDuty, Broadcast

    draft = Broadcast(
        id="",
        text_zh=read_text(args.text),
        text_en=read_text(args.text_en),
        channel=args.channel,
        lang=args.lang,
        base=args.base,
        duty=AudienceDuty(args.duty),
        team=args.team.strip().upper(),
        at=parse_at(runtime.catalog, args.at),
        wechat_mass=args.wechat_mass,
    )
    image = read_image(args.image)
    size = await runtime.appeals.audience_size(draft)
    print(f"{draft.text_zh or draft.text_en}\n\naudience: {size} subscribers")
    if not args.yes and ask("send it? [y/N] ") != "y":
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
    print("\n".join(progress(found)))


async def broadcast_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """Recent appeals, a line each."""
    for bc in await runtime.appeals.recent():
        print(progress(bc)[0])


def parse_at(catalog: Catalog, at: str | None) -> int:
    """`YYYY-MM-DD HH:MM` in the programme's zone as epoch seconds (0: now)."""
    if not at:
        return 0
    try:
        moment = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=catalog.timezone)
    except ValueError:
        raise CommandError(f'--at must be "YYYY-MM-DD HH:MM", got {at!r}') from None
    return int(moment.timestamp())


def read_text(path: str | None, limit: int = MAX_TEXT) -> str:
    """An appeal's text from a file (empty when no file is given)."""
    if not path:
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if len(text) > limit:
        raise CommandError(f"{path} is longer than {limit} characters")
    return text


def read_image(path: str | None) -> bytes | None:
    """A PNG to send with the appeal."""
    from bot.services.evidence import MAX_PHOTO_BYTES

    if not path:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    if not data.startswith(PNG_SIGNATURE) or len(data) > MAX_PHOTO_BYTES:
        raise CommandError(f"{path} must be a PNG of at most {MAX_PHOTO_BYTES // 2**20} MB")
    return data


def progress(bc: Broadcast, now: float | None = None, width: int = 30) -> list[str]:
    """A broadcast's status as lines, with a progress bar and the sending rate."""
    from bot.store.broadcasts import Result

    total = max(bc.total, bc.done, 1)
    filled = int(width * bc.done / total)
    lines = [
        f"#{bc.id} {bc.status}: [{'#' * filled}{'.' * (width - filled)}] {bc.done}/{bc.total}",
        "  "
        + ", ".join(f"{r} {bc.counts.get(r, 0)}" for r in Result)
        + f", pending {max(0, bc.total - bc.done)}",
    ]
    if bc.started:
        elapsed = max(1e-3, (now or time.time()) - bc.started)
        lines.append(f"  rate {bc.done / elapsed:.1f} messages/s")
    return lines
