"""What the admin commands read and print: slots (`slots add|list|cancel|import`), check-ins,
appeals (`broadcast create|list|status|cancel`), console accounts (`admins ...`).

Times are typed in the programme's time zone (Asia/Shanghai) and kept as UTC epoch seconds.
Bad input stops with a message that names the problem (CommandError) and changes nothing.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import assert_never

from bot.catalog import Catalog
from bot.errors import CommandError
from bot.i18n import when
from bot.services.bookings import Bookings, CheckInStatus
from bot.services.slots import NewSlot, read_csv
from bot.store.broadcasts import Broadcast, Result


async def list_slots(bookings: Bookings, base: str | None, day: str | None) -> list[str]:
    """One line per slot: id, base, local time, booked/capacity, waiting, status."""
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
    """Check a volunteer in by code; a line saying what happened."""
    result = await bookings.check_in(code, int(time.time()))
    slot, pledge = result.slot, result.pledge
    where = f"slot {slot.id} at {slot.base}" if slot else "the slot"
    match result.status:
        case CheckInStatus.UNKNOWN:
            raise CommandError(f"no booking has the check-in code {code!r}")
        case CheckInStatus.NOT_BOOKED:
            raise CommandError(f"the booking with code {code!r} was cancelled")
        case CheckInStatus.ALREADY:
            zone = bookings.catalog.timezone
            first = datetime.fromtimestamp(result.first_at, zone) if result.first_at else None
            since = f" on {first:%Y-%m-%d %H:%M}" if first else ""
            return f"{code}: already checked in at {where}{since}"
        case CheckInStatus.OK:
            trees = pledge.trees if pledge else 0
            serial = f", certificate {pledge.serial}" if pledge and pledge.serial else ""
            return f"{code}: checked in at {where}, {trees} trees toward the duty{serial}"
        case _:
            assert_never(result.status)


def read_csv_file(catalog: Catalog, path: str) -> list[NewSlot]:
    """The slots of a CSV file (see read_csv)."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as source:
            return read_csv(catalog, source)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def parse_at(catalog: Catalog, at: str | None) -> int:
    """`YYYY-MM-DD HH:MM` in the programme's zone as epoch seconds (0: now)."""
    if not at:
        return 0
    try:
        moment = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=catalog.timezone)
    except ValueError:
        raise CommandError(f'--at must be "YYYY-MM-DD HH:MM", got {at!r}') from None
    return int(moment.timestamp())


def read_text(path: str | None, limit: int = 2000) -> str:
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
    if not path:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) > 5 * 1024 * 1024:
        raise CommandError(f"{path} must be a PNG of at most 5 MB")
    return data


def progress(bc: Broadcast, now: float | None = None, width: int = 30) -> list[str]:
    """A broadcast's status as lines, with a progress bar and the sending rate."""
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


def admin_id() -> str:
    """Who is at the terminal, as histories record it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def read_password(from_stdin: bool) -> str:
    """A new password: the first line of standard input, or asked twice at the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ; nothing changed")
    return first
