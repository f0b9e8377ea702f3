"""Slots as staff type them (the command line, the console's form and CSV import): each
checked, any bad one stopping the whole with a message that names it (CommandError), then added.

Times are typed in the programme's time zone (Asia/Shanghai) and kept as UTC epoch seconds.
A file holds at most MAX_IMPORT_ROWS slots, in UTF-8 (with or without a BOM) or GBK as
Chinese Excel saves it; a slot holds at most MAX_CAPACITY volunteers.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Iterable
from datetime import date, datetime
from typing import TextIO

from bot.catalog import Catalog
from bot.errors import CommandError
from bot.model import immutable
from bot.services.bookings import Bookings
from bot.services.receipts import ENCODINGS

MAX_IMPORT_ROWS = 2000
MAX_CAPACITY = 10_000
DEFAULT_TASK = "植树 tree planting"
CSV_FIELDS = ("base", "date", "start", "end", "capacity", "task")


@immutable
class NewSlot:
    """A checked slot, ready to add."""

    base: str
    start: int
    end: int
    capacity: int
    task: str


def parse_slot(
    catalog: Catalog,
    base: str,
    day: str,
    start: str,
    end: str,
    capacity: str,
    task: str | None,
    now: float | None = None,
) -> NewSlot:
    """Check one slot as typed: a base offering volunteering, a future date, end after start,
    a capacity of at least one."""
    found = catalog.base(base)
    if found is None:
        known = ", ".join(b.id for b in catalog.bases)
        raise CommandError(f"unknown base {base!r}; the bases are: {known}")
    if "volunteering" not in found.forms:
        raise CommandError(f"base {base!r} does not offer volunteering")
    try:
        first = date.fromisoformat(day)
    except ValueError:
        raise CommandError(f"date must be YYYY-MM-DD, got {day!r}") from None
    begin, finish = _local(catalog, first, start, "start"), _local(catalog, first, end, "end")
    if finish <= begin:
        raise CommandError(f"end {end} must be after start {start}")
    if begin <= (now if now is not None else time.time()):
        raise CommandError(f"{day} {start} is in the past")
    if not capacity.isdigit() or not 1 <= int(capacity) <= MAX_CAPACITY:
        raise CommandError(
            f"capacity must be a whole number from 1 to {MAX_CAPACITY:,}, got {capacity!r}"
        )
    return NewSlot(base, begin, finish, int(capacity), (task or DEFAULT_TASK).strip()[:60])


def _local(catalog: Catalog, day: date, clock: str, name: str) -> int:
    try:
        moment = datetime.strptime(clock, "%H:%M").time()
    except ValueError:
        raise CommandError(f"{name} must be HH:MM, got {clock!r}") from None
    return int(datetime.combine(day, moment, catalog.timezone).timestamp())


def decoded(data: bytes) -> str:
    """A CSV file's text: UTF-8 (a BOM or not) or GBK, as the receipts import reads them."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CommandError("the file is not UTF-8 or GBK text; save it as CSV (UTF-8) and try again")


def read_csv(catalog: Catalog, source: TextIO) -> list[NewSlot]:
    """Slots from a CSV with columns base,date,start,end,capacity,task (at most
    MAX_IMPORT_ROWS); every row is checked first, and any bad row stops the import naming its
    line."""
    rows = list(itertools.islice(csv.DictReader(source), MAX_IMPORT_ROWS + 1))
    if len(rows) > MAX_IMPORT_ROWS:
        raise CommandError(f"a file holds at most {MAX_IMPORT_ROWS:,} slots; split it")
    if rows and set(CSV_FIELDS[:5]) - set(rows[0]):
        raise CommandError(f"the CSV needs the columns {', '.join(CSV_FIELDS)}")
    slots = []
    for line, row in enumerate(rows, start=2):
        try:
            slots.append(
                parse_slot(
                    catalog,
                    row["base"],
                    row["date"],
                    row["start"],
                    row["end"],
                    row["capacity"],
                    row.get("task"),
                )
            )
        except CommandError as exc:
            raise CommandError(f"line {line}: {exc}") from None
    return slots


async def add_slots(bookings: Bookings, slots: Iterable[NewSlot]) -> list[str]:
    """Create the slots; their ids."""
    ids = []
    for s in slots:
        created = await bookings.add_slot(s.base, s.start, s.end, s.capacity, s.task)
        ids.append(created.id)
    return ids
