"""`slots add|list|cancel|import` and `checkin CODE`: volunteer slots and checking volunteers in.

Times are typed in the programme's time zone (Asia/Shanghai) and kept as UTC epoch seconds.
Bad input stops with a message that names the problem (CommandError) and changes nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, command, group, with_runtime
from bot.errors import CommandError

if TYPE_CHECKING:
    from bot.catalog import Catalog
    from bot.runtime import Runtime
    from bot.services.bookings import Bookings
    from bot.services.slots import NewSlot


def register(commands: Subcommands) -> None:
    """Add `checkin` and the `slots` group."""
    command(commands, "checkin", "check a volunteer in", with_runtime(checkin), "code")
    slots = group(commands, "slots", "volunteer slots")
    add = command(slots, "add", "add a slot (times in Asia/Shanghai)", with_runtime(slots_add))
    for option in ("--base", "--date", "--start", "--end", "--capacity"):
        add.add_argument(option, required=True)
    add.add_argument("--task")
    listing = command(slots, "list", "list slots", with_runtime(slots_list))
    listing.add_argument("--base")
    listing.add_argument("--date")
    about = "cancel a slot; its volunteers are told"
    command(slots, "cancel", about, with_runtime(slots_cancel), "slot")
    command(slots, "import", "add slots from a CSV", with_runtime(slots_import), "file")


async def slots_add(runtime: Runtime, args: argparse.Namespace) -> None:
    """Add one slot."""
    from bot.services.slots import add_slots, parse_slot

    slot = parse_slot(
        runtime.catalog, args.base, args.date, args.start, args.end, args.capacity, args.task
    )
    print(f"slot {(await add_slots(runtime.bookings, [slot]))[0]} added")


async def slots_import(runtime: Runtime, args: argparse.Namespace) -> None:
    """Add the slots of a CSV file."""
    from bot.services.slots import add_slots

    slots = read_csv_file(runtime.catalog, args.file)
    print(f"{len(await add_slots(runtime.bookings, slots))} slots added")


async def slots_cancel(runtime: Runtime, args: argparse.Namespace) -> None:
    """Cancel a slot; its volunteers are told."""
    told = await cancel_slot(runtime.bookings, args.slot)
    print(f"slot {args.slot} cancelled; notices to {told} volunteers queued for delivery")


async def slots_list(runtime: Runtime, args: argparse.Namespace) -> None:
    """List slots."""
    lines = await list_slots(runtime.bookings, args.base, args.date)
    print("\n".join(lines) or "no slots")


async def checkin(runtime: Runtime, args: argparse.Namespace) -> None:
    """Check a volunteer in by code."""
    print(await check_in(runtime.bookings, args.code))


async def list_slots(bookings: Bookings, base: str | None, day: str | None) -> list[str]:
    """One line per slot: id, base, local time, booked/capacity, waiting, status."""
    from bot.i18n import when

    catalog = bookings.catalog
    if day:
        try:
            first = datetime.combine(
                date.fromisoformat(day), datetime.min.time(), catalog.timezone
            )
        except ValueError:
            raise CommandError(f"date must be YYYY-MM-DD, got {day!r}") from None
        start, until = int(first.timestamp()), int(first.timestamp()) + 86400 - 1
    else:
        start, until = int(time.time()) - 86400, int(time.time()) + 366 * 86400
    lines = []
    for slot in await bookings.slots.slots(start, until, base):
        waiting = len(await bookings.slots.waitlist(slot.id))
        span = when(catalog.span(slot.start, slot.end), "en")
        lines.append(
            f"{slot.id:>5}  {slot.base:<13} {span:<24} "
            f"{slot.booked:>3}/{slot.capacity:<4} waiting {waiting:<3} {slot.status}"
            f"  {slot.task}"
        )
    return lines


async def cancel_slot(bookings: Bookings, slot_id: str) -> int:
    """Cancel a slot; how many volunteers will be told (by the worker)."""
    told = await bookings.cancel_slot(slot_id)
    if told is None:
        raise CommandError(f"there is no open slot {slot_id!r}")
    return told


async def check_in(bookings: Bookings, code: str) -> str:
    """Check a volunteer in by code; the line saying so, or CommandError saying why not (in
    the language of the terminal's LANG)."""
    from bot import i18n
    from bot.services.bookings import CheckInStatus

    result = await bookings.check_in(code, int(time.time()))
    locale = i18n.locale_for(os.environ.get("LANG", "").split(".", 1)[0] or None)
    said = i18n.render(bookings.describe(result, code, locale), locale)
    if result.status != CheckInStatus.OK:
        raise CommandError(said)
    return said


def read_csv_file(catalog: Catalog, path: str) -> list[NewSlot]:
    """The slots of a CSV file (see bot/services/slots.py)."""
    from bot.services.slots import decoded, read_csv

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    return read_csv(catalog, io.StringIO(decoded(data), newline=""))
