"""What the programme exports for its reports: pledges, bookings, claims and payments, as rows
for a period (local days) and a base, produced one at a time so an export of any size takes
little memory. No names but masked ones, no platform ids: only the channel.

`csv_chunks` and `xlsx_file` turn rows into a file: CSV in UTF-8 with a BOM (Excel opens it),
XLSX with XlsxWriter in constant-memory mode.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import xlsxwriter

from bot.model import immutable
from bot.services import Services as Sources
from bot.services.names import mask_name
from bot.services.stats import Period

Row = Sequence[Any]
BATCH = 1000  # rows written per step (and per trip to a thread for XLSX)


class Kind(StrEnum):
    """What can be exported."""

    PLEDGES = "pledges"
    BOOKINGS = "bookings"
    CLAIMS = "claims"
    PAYMENTS = "payments"


HEADERS: dict[Kind, tuple[str, ...]] = {
    Kind.PLEDGES: (
        "pledge_id",
        "created_local",
        "base",
        "form",
        "trees",
        "amount_yuan",
        "status",
        "way",
        "serial",
        "status_changed",
        "channel",
    ),
    Kind.BOOKINGS: (
        "slot_id",
        "base",
        "start_local",
        "end_local",
        "task",
        "volunteer",
        "code",
        "status",
    ),
    Kind.CLAIMS: (
        "claim_id",
        "created_local",
        "base",
        "form",
        "pledge_id",
        "status",
        "decided_by",
        "reason",
    ),
    Kind.PAYMENTS: (
        "out_trade_no",
        "pledge_id",
        "amount_yuan",
        "status",
        "made_local",
        "paid_at",
        "transaction_id",
    ),
}


@immutable
class Export:
    """One export asked for."""

    kind: Kind
    period: Period


async def rows(sources: Sources, export: Export) -> AsyncIterator[Row]:
    """The export's rows (its header first)."""
    yield HEADERS[export.kind]
    producer: Callable[[Sources, Period], AsyncIterator[Row]] = {
        Kind.PLEDGES: _pledges,
        Kind.BOOKINGS: _bookings,
        Kind.CLAIMS: _claims,
        Kind.PAYMENTS: _payments,
    }[export.kind]
    async for row in producer(sources, export.period):
        yield row


async def _pledges(sources: Sources, period: Period) -> AsyncIterator[Row]:
    catalog = sources.catalog
    async for p in sources.pledges.every():
        if not period.holds(catalog, p):
            continue
        last = p.history[-1] if p.history else None
        yield (
            p.id,
            sources.catalog.local_minute(p.created),
            p.base,
            p.form,
            p.trees,
            p.amount_yuan,
            str(p.status),
            str(p.way),
            p.serial or "",
            sources.catalog.local_minute(last.at) if last else "",
            p.channel,
        )


async def _bookings(sources: Sources, period: Period) -> AsyncIterator[Row]:
    start, until = period.epochs(sources.catalog)
    for slot in await sources.bookings.slots.slots(start, until, period.base):
        roster = await sources.bookings.roster(slot.id)
        for v in roster.volunteers if roster else ():
            state = "attended" if v.attended else "booked"
            yield (
                slot.id,
                slot.base,
                sources.catalog.local_minute(slot.start),
                sources.catalog.local_minute(slot.end),
                slot.task,
                mask_name(v.name) if v.name else "",
                v.code,
                state,
            )


async def _claims(sources: Sources, period: Period) -> AsyncIterator[Row]:
    claims = await sources.claims.waiting(100_000) + await sources.claims.decided(100_000)
    for c in claims:
        day = sources.catalog.local(c.created).date()
        if (period.base and c.base != period.base) or not period.has_day(day):
            continue
        yield (
            c.id,
            sources.catalog.local_minute(c.created),
            c.base,
            c.form,
            c.pledge_id,
            str(c.status),
            c.decided_by,
            c.reason,
        )


async def _payments(sources: Sources, period: Period) -> AsyncIterator[Row]:
    for o in await sources.payments.store.recent_orders(1_000_000):
        day = datetime.fromtimestamp(o.created, sources.catalog.timezone).date()
        if not period.has_day(day):
            continue
        if period.base:
            pledge = await sources.pledges.get(o.user_key, o.pledge_id)
            if pledge is None or pledge.base != period.base:
                continue
        yield (
            o.out_trade_no,
            o.pledge_id,
            f"{o.amount_fen / 100:.2f}",
            str(o.status),
            sources.catalog.local_minute(o.created),
            o.paid_at,
            o.transaction_id,
        )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula


def inert(row: Row) -> Row:
    """A row a spreadsheet shows as typed: text that would start a formula (a name like
    `=HYPERLINK(...)`, a slot's task, a rejection's reason) gets a leading `'`."""
    return tuple(
        f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell
        for cell in row
    )


async def write_csv(source: AsyncIterator[Row], out: TextIO) -> int:
    """Write the rows as CSV to `out` (opened as UTF-8 with a BOM); how many data rows."""
    writer = csv.writer(out)
    count = -1  # the header is not counted
    async for row in source:
        writer.writerow(inert(row))
        count += 1
    return max(count, 0)


async def csv_chunks(source: AsyncIterator[Row]) -> AsyncIterator[bytes]:
    """The rows as CSV in UTF-8 with a BOM, BATCH rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    count = 0
    async for row in source:
        writer.writerow(inert(row))
        count += 1
        if count % BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _new_file(folder: Path, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix, delete=False) as handle:
        return Path(handle.name)


async def xlsx_file(source: AsyncIterator[Row], folder: Path, sheet: str) -> Path:
    """The rows as an XLSX file in `folder` (constant memory: rows go to disk as written);
    the caller deletes it."""
    path = await asyncio.to_thread(_new_file, folder, ".xlsx")
    options = {
        "constant_memory": True,
        "tmpdir": str(folder),
        "strings_to_formulas": False,  # text stays text, whatever it starts with
        "strings_to_urls": False,
    }
    book = xlsxwriter.Workbook(str(path), options)
    page = book.add_worksheet(sheet)
    batch: list[Row] = []
    number = 0

    def write(rows: list[Row], first: int) -> None:
        for offset, row in enumerate(rows):
            page.write_row(first + offset, 0, row)

    async for row in source:
        batch.append(row)
        if len(batch) >= BATCH:
            await asyncio.to_thread(write, batch, number)
            number += len(batch)
            batch = []
    await asyncio.to_thread(write, batch, number)
    await asyncio.to_thread(book.close)
    return path
