"""`python -m bot migrate`: every stored record brought to the version this code writes, and
every picture older versions kept in Redis (claim photos, appeal images) moved to the blobs.

Records are migrated (and pictures moved) when read anyway (`store/records.py`,
`store/blobs.py`); this does it for all, so old shapes leave the store. It runs beside a live
bot: each record is replaced only if it is still the one read (a record the bot changed
meanwhile was written in the current version already).
Progress is saved after every page of keys, so an interrupted run resumes where it stopped. A
record newer than this code, or one that cannot be read, is left as it is and named.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import StoreError
from bot.model import immutable
from bot.services.admins import ACCOUNT_VERSION, Account
from bot.services.appeals import read_image
from bot.services.claims import read_photo
from bot.services.consent import CONSENT_VERSION, Consent
from bot.services.pledges import RECORD_VERSION, Pledge
from bot.store import Store
from bot.store.blobs import Blobs
from bot.store.claims import CLAIM_VERSION, Claim
from bot.store.migration import Progress
from bot.store.payments import ORDER_VERSION, Order
from bot.store.records import load_record
from bot.store.slots import BOOKING_VERSION, Booking
from bot.store.teams import TEAM_VERSION, Team

log = logging.getLogger(__name__)
PAGE = 500  # keys per SCAN page: one saved step
LEFT_KEPT = 1000  # records left alone named in a saved run (all are counted)


@immutable
class Family:
    """A family of records: whether a key holds a hash of them, the version written today, and
    how one is read (migrating) and written."""

    hashed: bool
    version: int
    load: Callable[[str], Any]
    dump: Callable[[Any], str]


def _consent(raw: str) -> Consent:
    return load_record(Consent, json.loads(raw), CONSENT_VERSION)


FAMILIES = {
    "pledges": Family(True, RECORD_VERSION, Pledge.from_json, Pledge.to_json),
    "bookings": Family(True, BOOKING_VERSION, Booking.from_json, Booking.to_json),
    "admins": Family(True, ACCOUNT_VERSION, Account.from_json, Account.to_json),
    "consent": Family(False, CONSENT_VERSION, _consent, Consent.to_json),
    "claim": Family(False, CLAIM_VERSION, Claim.from_json, Claim.to_json),
    "order": Family(False, ORDER_VERSION, Order.from_json, Order.to_json),
    "team": Family(False, TEAM_VERSION, Team.from_json, Team.to_json),
}


@dataclass
class Report:
    """What a run did: counts by outcome, and the records it left alone."""

    counts: Counter[str]
    left: list[str]
    resumed: bool = False

    def lines(self) -> list[str]:
        """The report as lines for the terminal."""
        head = "resumed an interrupted run; " if self.resumed else ""
        said = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
        return [f"{head}{said or 'no records'}", *self.left]


async def migrate(store: Store, blobs: Blobs, pages: int | None = None) -> Report:
    """Migrate every record and move every picture, resuming a run that was interrupted;
    `pages` stops after that many pages of keys (as an interruption would)."""
    area = store.migration
    saved = await area.progress()
    report = Report(Counter(saved.counts), saved.left, resumed=bool(saved.cursors))
    async for cursors, page in area.pages(PAGE, saved.cursors):
        await _page(store, page, report)
        await _pictures(store, blobs, page, report)
        await area.save(Progress(cursors, dict(report.counts), report.left[:LEFT_KEPT]))
        if pages is not None:
            pages -= 1
            if not pages and any(cursors.values()):
                break
    log.info("migrate: %s", report.lines()[0])
    return report


async def _page(store: Store, page: list[str], report: Report) -> None:
    found = [(key, family) for key in page if (family := store.keys.family(key))]
    hashes = [(key, family) for key, family in found if FAMILIES[family].hashed]
    strings = [(key, family) for key, family in found if not FAMILIES[family].hashed]
    values = await store.migration.read([k for k, _ in hashes], [k for k, _ in strings])
    records: list[tuple[str, str | None, str, str]] = []  # key, field, family, raw
    for (key, family), value in zip(hashes + strings, values, strict=True):
        if FAMILIES[family].hashed:
            records += [(key, field, family, raw) for field, raw in value.items()]
        elif value is not None:
            records.append((key, None, family, value))
    for key, field, family, raw in records:
        report.counts[await _one(store, key, field, FAMILIES[family], raw, report)] += 1


async def _pictures(store: Store, blobs: Blobs, page: list[str], report: Report) -> None:
    """Move the pictures an older version kept in Redis to the blobs."""
    for key in page:
        match store.keys.old_blob(key):
            case ("claim", claim_id):
                found = await read_photo(store.claims, blobs, claim_id)
            case ("appeal", bc_id):
                found = await read_image(store.broadcasts, blobs, bc_id)
            case _:
                continue
        if found is not None:
            report.counts["pictures moved to the blobs"] += 1


async def _one(
    store: Store, key: str, field: str | None, family: Family, raw: str, report: Report
) -> str:
    """Migrate one record; what happened to it."""
    where = key + (f" [{field}]" if field is not None else "")
    try:
        data = json.loads(raw)
        version = int(data.get("v", 1))
        if version > family.version:
            report.left.append(f"{where}: version {version} is newer than this code")
            return "newer (left)"
        if "v" in data and version == family.version:
            return "current"
        new = family.dump(family.load(raw))
    except (ValueError, TypeError, KeyError, AttributeError, StoreError) as exc:
        report.left.append(f"{where}: cannot be read ({exc})")
        return "unreadable (left)"
    if await store.migration.swap(key, field, raw, new):
        return "migrated"
    return "changed meanwhile"
