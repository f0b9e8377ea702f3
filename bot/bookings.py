"""Volunteer bookings: book, wait, cancel (with waitlist promotion), check in, close a slot.

The slot's own capacity rules are atomic in Redis (store_slots.py); this module adds what spans
the user: no two overlapping bookings (the user's turn lock serialises their own requests), the
user's booking list, reminders, and the notifications the worker delivers. Attended volunteering
becomes a fulfilled pledge worth the catalogue's trees, with a certificate once the year's
fulfilled trees reach the duty.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot import serials
from bot.catalog import Catalog
from bot.pledges import Pledge, Pledges
from bot.store_slots import Booking, Slot, SlotStore

CODE_LENGTH = 8
ACTIVE = ("booked", "waitlisted")


def new_code() -> str:
    """A check-in code: short, readable, unguessable enough (40 bits)."""
    return "".join(secrets.choice(serials.ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True, slots=True)
class BookResult:
    """What happened to a booking attempt; `code` when booked, `position` when waiting."""

    status: str  # booked, already, full, overlap, closed, cancelled, unknown, waitlisted
    slot: Slot | None = None
    code: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A check-in: its status and, when it counted, the pledge it became."""

    status: str  # ok, already, not_booked, unknown
    user_key: str | None = None
    slot: Slot | None = None
    pledge: Pledge | None = None


def overlaps(a: Slot, b: Slot) -> bool:
    """Whether two slots share any time."""
    return a.start < b.end and b.start < a.end


class Bookings:
    """The booking service the conversations, the command line and the worker use."""

    def __init__(self, slots: SlotStore, catalog: Catalog, pledges: Pledges) -> None:
        self.slots = slots
        self.catalog = catalog
        self.pledges = pledges

    async def upcoming(self, base: str | None, now: int) -> list[Slot]:
        """Open slots starting within the booking window."""
        until = now + self.catalog.volunteering.booking_days_ahead * 86400
        return [s for s in await self.slots.slots(now, until, base) if s.status == "open"]

    async def active(self, user_key: str, now: int) -> list[tuple[Booking, Slot]]:
        """The user's bookings and waitlist places for slots not yet begun, soonest first."""
        found = []
        for booking in (await self.slots.bookings(user_key)).values():
            slot = await self.slots.slot(booking.slot)
            if booking.status in ACTIVE and slot is not None and slot.start > now:
                found.append((booking, slot))
        return sorted(found, key=lambda pair: pair[1].start)

    async def book(
        self, user_key: str, slot_id: str, name: str, locale: str, now: int
    ) -> BookResult:
        """Take a place at a slot (not overlapping the user's other bookings)."""
        slot = await self.slots.slot(slot_id)
        if slot is None:
            return BookResult("unknown")
        for _, other in await self.active(user_key, now):
            if other.id != slot.id and overlaps(other, slot):
                return BookResult("overlap", other)
        outcome = await self.slots.book(slot_id, user_key, new_code(), now)
        if outcome.status != "booked":
            return BookResult(outcome.status, slot, outcome.detail)
        await self._booked(
            user_key, slot, Booking(slot.id, outcome.detail or "", "booked", name, locale)
        )
        return BookResult("booked", slot, outcome.detail)

    async def wait(
        self, user_key: str, slot_id: str, name: str, locale: str, now: int
    ) -> BookResult:
        """Join a full slot's waitlist (or book it, if a place came free meanwhile)."""
        outcome = await self.slots.join_waitlist(slot_id, user_key, now)
        if outcome.status == "free":
            return await self.book(user_key, slot_id, name, locale, now)
        slot = await self.slots.slot(slot_id)
        if outcome.status == "waitlisted" and slot is not None:
            waiting = Booking(slot_id, "", "waitlisted", name, locale)
            await self.slots.save_booking(user_key, waiting)
            return BookResult("waitlisted", slot, position=int(outcome.detail or 0))
        return BookResult(outcome.status, slot)

    async def cancel(self, user_key: str, slot_id: str, now: int) -> str:
        """Give up a place or a waitlist spot: cancelled, left_waitlist, too_late, not_booked.
        A freed place goes to the first waiting user, who is told."""
        outcome = await self.slots.cancel(slot_id, user_key, now, new_code())
        if outcome.status not in ("cancelled", "left_waitlist"):
            return outcome.status
        booking = (await self.slots.bookings(user_key)).get(slot_id)
        if booking is not None:
            await self.slots.save_booking(user_key, replace(booking, status="cancelled"))
        await self.slots.drop_reminder(slot_id, user_key)
        if outcome.detail:
            await self._promoted(outcome.detail, slot_id)
        return outcome.status

    async def _promoted(self, user_key: str, slot_id: str) -> None:
        slot = await self.slots.slot(slot_id)
        code = (await self.slots.volunteers(slot_id)).get(user_key)
        waiting = (await self.slots.bookings(user_key)).get(slot_id)
        if slot is None or code is None:
            return
        booking = Booking(
            slot.id,
            code,
            "booked",
            waiting.name if waiting else "",
            waiting.locale if waiting else "zh",
        )
        await self._booked(user_key, slot, booking)
        await self.notify(user_key, "booking.promoted", {"slot": slot.id, "code": code})

    async def _booked(self, user_key: str, slot: Slot, booking: Booking) -> None:
        await self.slots.save_booking(user_key, booking)
        due = slot.start - int(self.catalog.volunteering.reminder_hours_before * 3600)
        await self.slots.schedule_reminder(slot.id, user_key, due)

    async def cancel_slot(self, slot_id: str) -> int | None:
        """Cancel a slot; everyone booked or waiting is told. How many were told (None: no
        such open slot)."""
        people = await self.slots.cancel_slot(slot_id)
        if people is None:
            return None
        for user_key in people:
            booking = (await self.slots.bookings(user_key)).get(slot_id)
            if booking is not None:
                await self.slots.save_booking(user_key, replace(booking, status="cancelled"))
            await self.slots.drop_reminder(slot_id, user_key)
            await self.notify(user_key, "booking.slot_cancelled", {"slot": slot_id})
        return len(people)

    async def check_in(self, code: str, now: int) -> CheckIn:
        """Confirm attendance by code; it counts toward the yearly duty, once."""
        found = await self.slots.by_code(code)
        if found is None:
            return CheckIn("unknown")
        slot_id, user_key = found
        slot = await self.slots.slot(slot_id)
        status = await self.slots.check_in(slot_id, user_key)
        if status != "ok" or slot is None:
            return CheckIn(status, user_key, slot)
        booking = (await self.slots.bookings(user_key)).get(slot_id)
        if booking is not None:
            await self.slots.save_booking(user_key, replace(booking, status="attended"))
        pledge = await self.pledges.record_attendance(
            user_key,
            slot.base,
            self._trees(slot),
            booking.name if booking else "",
            booking.locale if booking else "zh",
            f"slot:{slot_id}",
            datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        )
        params: dict[str, str | int] = {
            "slot": slot_id,
            "trees": pledge.trees,
            "serial": pledge.serial or "",
        }
        await self.notify(user_key, "booking.checked_in", params, certificate=pledge.serial)
        return CheckIn("ok", user_key, slot, pledge)

    def _trees(self, slot: Slot) -> int:
        return self.catalog.volunteering.trees_for_hours((slot.end - slot.start) / 3600)

    async def close(self, slot_id: str) -> int:
        """After a slot ends: the booked who did not check in are no-shows. How many."""
        attended = await self.slots.attended(slot_id)
        missing = [u for u in await self.slots.volunteers(slot_id) if u not in attended]
        for user_key in missing:
            booking = (await self.slots.bookings(user_key)).get(slot_id)
            if booking is not None and booking.status == "booked":
                await self.slots.save_booking(user_key, replace(booking, status="no_show"))
        return len(missing)

    async def notify(
        self, user_key: str, key: str, params: dict[str, str | int], certificate: str | None = None
    ) -> None:
        """Queue a message to a user; the worker renders it in their language and sends it."""
        note = {"user": user_key, "key": key, "params": params, "certificate": certificate}
        await self.slots.enqueue("notify", json.dumps(note, ensure_ascii=False))
