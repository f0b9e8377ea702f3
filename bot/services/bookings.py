"""Volunteer bookings: book, wait, cancel (with waitlist promotion), check in, close a slot.

The slot's own capacity rules are atomic in Redis (store/slots.py); this module adds what spans
the user: no two overlapping bookings (the user's turn lock serialises their own requests), the
user's booking list, reminders, and the notices the worker delivers. Attended volunteering
becomes a fulfilled pledge worth the catalogue's trees, with a certificate once the year's
fulfilled trees reach the duty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from bot.catalog import Catalog
from bot.model import UserKey
from bot.services import serials
from bot.services.pledges import Event, Pledge, Pledges, now_iso
from bot.store import Store
from bot.store.jobs import Notice
from bot.store.slots import Booking, BookingStatus, Slot, SlotStatus, Volunteer

CODE_LENGTH = 8
ACTIVE = (BookingStatus.BOOKED, BookingStatus.WAITLISTED)


class BookStatus(StrEnum):
    """What became of an attempt to book (or to wait for) a place."""

    BOOKED = "booked"
    WAITLISTED = "waitlisted"
    ALREADY = "already"
    FULL = "full"
    OVERLAP = "overlap"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class CheckInStatus(StrEnum):
    """What became of a check-in."""

    OK = "ok"
    ALREADY = "already"
    NOT_BOOKED = "not_booked"
    UNKNOWN = "unknown"


def new_code() -> str:
    """A check-in code: short, readable, unguessable enough (40 bits)."""
    return serials.new_id(CODE_LENGTH)


@dataclass(frozen=True, slots=True)
class BookResult:
    """What happened to a booking attempt; `code` when booked, `position` when waiting."""

    status: BookStatus
    slot: Slot | None = None
    code: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A check-in: its status and, when it counted, the pledge it became."""

    status: CheckInStatus
    user_key: UserKey | None = None
    slot: Slot | None = None
    pledge: Pledge | None = None
    first_at: int | None = None  # when the code was first used (for "already")


@dataclass(frozen=True, slots=True)
class Roster:
    """Who is booked at a slot, and how many wait."""

    slot: Slot
    volunteers: tuple[Volunteer, ...]
    waiting: int


class CancelStatus(StrEnum):
    """What became of giving up a place."""

    CANCELLED = "cancelled"
    LEFT_WAITLIST = "left_waitlist"
    TOO_LATE = "too_late"
    NOT_BOOKED = "not_booked"
    UNKNOWN = "unknown"


def overlaps(a: Slot, b: Slot) -> bool:
    """Whether two slots share any time."""
    return a.start < b.end and b.start < a.end


class Bookings:
    """The booking service the conversations, the command line and the worker use."""

    def __init__(self, store: Store, catalog: Catalog, pledges: Pledges) -> None:
        self.slots = store.slots
        self.jobs = store.jobs
        self.catalog = catalog
        self.pledges = pledges

    async def upcoming(self, base: str | None, now: int) -> list[Slot]:
        """Open slots starting within the booking window."""
        until = now + self.catalog.volunteering.booking_days_ahead * 86400
        slots = await self.slots.slots(now, until, base)
        return [s for s in slots if s.status == SlotStatus.OPEN]

    async def slot(self, slot_id: str) -> Slot | None:
        """One slot, or None."""
        return await self.slots.slot(slot_id)

    async def booking(self, user: UserKey, slot_id: str) -> tuple[Booking, Slot] | None:
        """The user's booking of a slot and the slot, if both exist."""
        booking = await self.slots.booking(user, slot_id)
        slot = await self.slots.slot(slot_id) if booking else None
        return (booking, slot) if booking and slot else None

    async def roster(self, slot_id: str) -> Roster | None:
        """Who is booked at a slot (names, codes, who came) and how many wait."""
        slot = await self.slots.slot(slot_id)
        if slot is None:
            return None
        volunteers, waiting = await self.slots.roster(slot_id)
        return Roster(slot, tuple(volunteers), waiting)

    async def active(self, user: UserKey, now: int) -> list[tuple[Booking, Slot]]:
        """The user's bookings and waitlist places for slots not yet begun, soonest first."""
        found = []
        for booking in (await self.slots.bookings(user)).values():
            slot = await self.slots.slot(booking.slot)
            if booking.status in ACTIVE and slot is not None and slot.start > now:
                found.append((booking, slot))
        return sorted(found, key=lambda pair: pair[1].start)

    async def book(
        self, user: UserKey, slot_id: str, name: str, locale: str, now: int, pledge: str = ""
    ) -> BookResult:
        """Take a place at a slot (not overlapping the user's other bookings); `pledge` is
        fulfilled when the volunteer checks in."""
        slot = await self.slots.slot(slot_id)
        if slot is None:
            return BookResult(BookStatus.UNKNOWN)
        for _, other in await self.active(user, now):
            if other.id != slot.id and overlaps(other, slot):
                return BookResult(BookStatus.OVERLAP, other)
        outcome = await self.slots.book(slot_id, user, new_code(), now)
        status = BookStatus(outcome.status)
        if status != BookStatus.BOOKED:
            return BookResult(status, slot, outcome.detail)
        code = outcome.detail or ""
        booking = Booking(slot.id, code, BookingStatus.BOOKED, name, locale, pledge)
        await self._booked(user, slot, booking)
        return BookResult(status, slot, code)

    async def wait(
        self, user: UserKey, slot_id: str, name: str, locale: str, now: int, pledge: str = ""
    ) -> BookResult:
        """Join a full slot's waitlist (or book it, if a place came free meanwhile)."""
        outcome = await self.slots.join_waitlist(slot_id, user, now)
        if outcome.status == "free":
            return await self.book(user, slot_id, name, locale, now, pledge)
        slot = await self.slots.slot(slot_id)
        status = BookStatus(outcome.status)
        if status == BookStatus.WAITLISTED and slot is not None:
            waiting = Booking(slot_id, "", BookingStatus.WAITLISTED, name, locale, pledge)
            await self.slots.save_booking(user, waiting)
            return BookResult(status, slot, position=int(outcome.detail or 0))
        return BookResult(status, slot)

    async def cancel(self, user: UserKey, slot_id: str, now: int) -> CancelStatus:
        """Give up a place or a waitlist spot. A freed place goes to the first waiting user,
        who is told."""
        outcome = await self.slots.cancel(slot_id, user, now, new_code())
        status = CancelStatus(outcome.status)
        if status not in (CancelStatus.CANCELLED, CancelStatus.LEFT_WAITLIST):
            return status
        await self._mark(user, slot_id, BookingStatus.CANCELLED)
        await self.jobs.drop_reminder(slot_id, user)
        if outcome.detail:
            await self._promoted(UserKey(outcome.detail), slot_id)
        return status

    async def _mark(self, user: UserKey, slot_id: str, status: BookingStatus) -> None:
        booking = await self.slots.booking(user, slot_id)
        if booking is not None:
            await self.slots.save_booking(user, replace(booking, status=status))

    async def _promoted(self, user: UserKey, slot_id: str) -> None:
        slot = await self.slots.slot(slot_id)
        code = (await self.slots.volunteers(slot_id)).get(user)
        waiting = await self.slots.booking(user, slot_id)
        if slot is None or code is None:
            return
        name, locale, pledge = (
            (waiting.name, waiting.locale, waiting.pledge) if waiting else ("", "zh", "")
        )
        booked = Booking(slot.id, code, BookingStatus.BOOKED, name, locale, pledge)
        await self._booked(user, slot, booked)
        await self.notify(user, "booking.promoted", {"slot": slot.id, "code": code})

    async def _booked(self, user: UserKey, slot: Slot, booking: Booking) -> None:
        await self.slots.save_booking(user, booking)
        due = slot.start - int(self.catalog.volunteering.reminder_hours_before * 3600)
        await self.jobs.schedule_reminder(slot.id, user, due)
        if booking.pledge:  # the pledge waits for the event, however far off it is
            event = Event(now_iso(), "extended", "system", f"booked slot {slot.id}")
            await self.pledges.extend(user, booking.pledge, slot.end + 86400, event)

    async def cancel_slot(self, slot_id: str) -> int | None:
        """Cancel a slot; everyone booked or waiting is told. How many were told (None: no
        such open slot)."""
        people = await self.slots.cancel_slot(slot_id)
        if people is None:
            return None
        for user in people:
            await self._mark(user, slot_id, BookingStatus.CANCELLED)
            await self.jobs.drop_reminder(slot_id, user)
            await self.notify(user, "booking.slot_cancelled", {"slot": slot_id})
        return len(people)

    async def check_in(self, code: str, now: int) -> CheckIn:
        """Confirm attendance by code; it counts toward the yearly duty, once."""
        found = await self.slots.by_code(code)
        if found is None:
            return CheckIn(CheckInStatus.UNKNOWN)
        slot_id, user = found
        slot = await self.slots.slot(slot_id)
        outcome, first_at = await self.slots.check_in(slot_id, user, now)
        status = CheckInStatus(outcome)
        if status != CheckInStatus.OK or slot is None:
            return CheckIn(status, user, slot, first_at=first_at)
        booking = await self.slots.booking(user, slot_id)
        if booking is not None:
            await self.slots.save_booking(user, replace(booking, status=BookingStatus.ATTENDED))
        pledge = await self._attended(user, slot, booking, now)
        params: dict[str, str | int] = {
            "slot": slot_id,
            "trees": pledge.trees,
            "serial": pledge.serial or "",
        }
        await self.notify(user, "booking.checked_in", params, certificate=pledge.serial)
        return CheckIn(status, user, slot, pledge)

    async def _attended(
        self, user: UserKey, slot: Slot, booking: Booking | None, now: int
    ) -> Pledge:
        """The pledge attendance fulfils: the one the booking was made for, or a volunteering
        pledge worth the slot's hours."""
        if booking is not None and booking.pledge:
            note = f"slot {slot.id}"
            done = await self.pledges.fulfil(
                user, booking.pledge, "checkin", note, late=True, notify=False
            )
            if done is not None:
                return done.pledge
        return await self.pledges.record_attendance(
            user,
            slot.base,
            self.catalog.volunteering.trees_for_hours((slot.end - slot.start) / 3600),
            booking.name if booking else "",
            booking.locale if booking else "zh",
            f"slot:{slot.id}",
            datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        )

    async def close(self, slot_id: str) -> int:
        """After a slot ends: the booked who did not check in are no-shows. How many."""
        attended = await self.slots.attended(slot_id)
        missing = [UserKey(u) for u in await self.slots.volunteers(slot_id) if u not in attended]
        for user in missing:
            booking = await self.slots.booking(user, slot_id)
            if booking is not None and booking.status == BookingStatus.BOOKED:
                await self.slots.save_booking(user, replace(booking, status=BookingStatus.NO_SHOW))
        return len(missing)

    async def notify(
        self, user: UserKey, key: str, params: dict[str, str | int], certificate: str | None = None
    ) -> None:
        """Queue a message to a user; the worker renders it in their language and sends it."""
        await self.jobs.notify(Notice(user, key, params, certificate))
