"""Volunteer bookings: book, wait, cancel (with waitlist promotion), check in, close a slot.

The slot's own capacity rules are atomic in Redis (store/slots.py); this module adds what spans
the user: no two overlapping bookings (the user's turn lock serialises their own requests), the
user's booking list, reminders, and the notices the worker delivers. Attended volunteering
becomes a fulfilled pledge worth the catalogue's trees, with a certificate once the year's
fulfilled trees reach the duty.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum

from bot.catalog import Catalog
from bot.model import N_, Msg, Param, UserKey, immutable
from bot.services import serials
from bot.services.names import mask_name
from bot.services.pledges import CHECKED_IN, Event, Pledge, Pledges, now_iso
from bot.store import Store
from bot.store.claims import FORGOTTEN
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
    """What became of a check-in: OK, or why it was refused (and nothing changed)."""

    OK = "ok"
    ALREADY = "already"  # checked in before: `first_at` says when
    NOT_BOOKED = "not_booked"  # the booking was cancelled
    WAITING = "waiting"  # still on the waitlist
    NO_SHOW = "no_show"  # the slot closed without them
    SLOT_CANCELLED = "slot_cancelled"
    NOT_OPEN = "not_open"  # too early: `opens_at` says when it opens
    CLOSED = "closed"  # too late: `closes_at` says when it closed
    UNKNOWN = "unknown"


SLOTS_A_PAGE = 8  # slots a chat shows at a time ("more" and "earlier" page through the rest)
CHECK_IN_SAID = {  # what staff are told
    CheckInStatus.OK: N_("checkin.ok"),
    CheckInStatus.ALREADY: N_("checkin.already"),
    CheckInStatus.NOT_BOOKED: N_("checkin.booking_cancelled"),
    CheckInStatus.WAITING: N_("checkin.waiting"),
    CheckInStatus.NO_SHOW: N_("checkin.no_show"),
    CheckInStatus.SLOT_CANCELLED: N_("checkin.slot_cancelled"),
    CheckInStatus.NOT_OPEN: N_("checkin.not_open"),
    CheckInStatus.CLOSED: N_("checkin.closed"),
    CheckInStatus.UNKNOWN: N_("checkin.unknown"),
}
REFUSED_AS = {  # a booking's status → the check-in it gets
    BookingStatus.CANCELLED: CheckInStatus.NOT_BOOKED,
    BookingStatus.WAITLISTED: CheckInStatus.WAITING,
    BookingStatus.NO_SHOW: CheckInStatus.NO_SHOW,
}


def new_code() -> str:
    """A check-in code: short, readable, unguessable enough (40 bits)."""
    return serials.new_id(CODE_LENGTH)


@immutable
class BookResult:
    """What happened to a booking attempt; `code` when booked, `position` when waiting."""

    status: BookStatus
    slot: Slot | None = None
    code: str | None = None
    position: int | None = None


@immutable
class SlotPage:
    """Some of the slots a volunteer may book: `offset` is where the page starts, `more` says
    later ones follow."""

    slots: tuple[Slot, ...]
    offset: int = 0
    more: bool = False

    @property
    def earlier(self) -> int | None:
        """The offset of the page before, if there is one."""
        return max(0, self.offset - SLOTS_A_PAGE) if self.offset else None

    @property
    def later(self) -> int | None:
        """The offset of the page after, if there is one."""
        return self.offset + SLOTS_A_PAGE if self.more else None


@immutable
class CheckIn:
    """A check-in: its status and, when it counted, the pledge it became."""

    status: CheckInStatus
    user_key: UserKey | None = None
    slot: Slot | None = None
    pledge: Pledge | None = None
    first_at: int | None = None  # when the code was first used (for "already")
    opens_at: int | None = None  # the slot's check-in window
    closes_at: int | None = None
    name: str = ""  # the volunteer's name as booked


@immutable
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

    async def upcoming(self, base: str | None, now: int, offset: int = 0) -> SlotPage:
        """A page of the open slots starting within the booking window (SLOTS_A_PAGE of the
        slots from the `offset`th; cancelled ones left out)."""
        until = now + self.catalog.volunteering.booking_days_ahead * 86400
        found = await self.slots.slots(now, until, base, offset, SLOTS_A_PAGE + 1)
        open_ = tuple(s for s in found[:SLOTS_A_PAGE] if s.status == SlotStatus.OPEN)
        return SlotPage(open_, offset, len(found) > SLOTS_A_PAGE)

    async def slot(self, slot_id: str) -> Slot | None:
        """One slot, or None."""
        return await self.slots.slot(slot_id)

    async def forget(self, user: UserKey, now: int) -> None:
        """The user deleted their data: coming bookings are cancelled (places freed, the
        waitlist promoted), reminders dropped, and the slots keep their counts under a
        pseudonym; check-in codes stop working."""
        bookings = await self.slots.bookings(user)
        for slot_id, booking in bookings.items():
            if booking.status in (BookingStatus.BOOKED, BookingStatus.WAITLISTED):
                await self.cancel(user, slot_id, now)
            await self.jobs.drop_reminder(slot_id, user)
        await self.slots.forget(user, bookings, f"{FORGOTTEN}:{secrets.token_hex(6)}")

    async def name_of(self, user: UserKey) -> str:
        """The name on the user's newest booking that has one ("" when none has)."""
        named = [b for b in (await self.slots.bookings(user)).values() if b.name]
        return max(named, key=lambda b: int(b.slot)).name if named else ""

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

    def window(self, slot: Slot) -> tuple[int, int]:
        """When a slot's volunteers may be checked in: opens, closes (epoch seconds)."""
        return self.catalog.checkin_window(slot.base).bounds(slot.start, slot.end)

    async def add_slot(self, base: str, start: int, end: int, capacity: int, task: str) -> Slot:
        """Create a slot; it closes (no-shows are marked) when its check-in window does."""
        closes = self.catalog.checkin_window(base).bounds(start, end)[1]
        return await self.slots.add_slot(base, start, end, capacity, task, closes)

    async def check_in(self, code: str, now: int) -> CheckIn:
        """Confirm attendance by code, whoever asks (the console, the command line, an admin
        in a chat): only a booking that stands, on a slot that stands, inside the slot's
        check-in window; it counts toward the yearly duty, once. A refusal changes nothing
        and says why."""
        found = await self.slots.by_code(code)
        slot, booking = None, None
        if found is not None:
            slot = await self.slots.slot(found[0])
            booking = await self.slots.booking(found[1], found[0])
        if found is None or slot is None or booking is None:
            return CheckIn(CheckInStatus.UNKNOWN)
        user = found[1]
        opens, closes = self.window(slot)
        said = CheckIn(CheckInStatus.OK, user, slot, None, None, opens, closes, booking.name)
        refused = self._refusal(slot, booking, now, opens, closes)
        if refused is not None:
            return replace(said, status=refused)
        outcome, first_at = await self.slots.check_in(slot.id, user, now)
        if outcome != CheckInStatus.OK:  # checked in meanwhile (or the booking just went)
            return replace(said, status=CheckInStatus(outcome), first_at=first_at)
        await self.slots.save_booking(user, replace(booking, status=BookingStatus.ATTENDED))
        pledge = await self._attended(user, slot, booking, now)
        params: dict[str, str | int] = {
            "slot": slot.id,
            "trees": pledge.trees,
            "serial": pledge.serial or "",
        }
        await self.notify(user, "booking.checked_in", params, certificate=pledge.serial)
        return replace(said, pledge=pledge, first_at=now)

    def describe(self, result: CheckIn, code: str, locale: str) -> Msg:
        """What a check-in came to, for the member of staff who asked, in their language
        (whichever door they came through renders it)."""
        params: dict[str, Param] = {"code": code.strip().upper()[:32]}
        slot = result.slot
        if slot is not None:
            params |= {
                "when": self.catalog.span(slot.start, slot.end),
                "place": self.catalog.base_name(slot.base, locale),
                "name": mask_name(result.name),
                "trees": result.pledge.trees if result.pledge else 0,
            }
        moment = {
            CheckInStatus.ALREADY: result.first_at,
            CheckInStatus.NOT_OPEN: result.opens_at,
            CheckInStatus.CLOSED: result.closes_at,
        }.get(result.status)
        if moment:
            params["at"] = datetime.fromtimestamp(moment, self.catalog.timezone).strftime("%H:%M")
        return Msg(CHECK_IN_SAID[result.status], params)

    def _refusal(
        self, slot: Slot, booking: Booking, now: int, opens: int, closes: int
    ) -> CheckInStatus | None:
        """Why a check-in is refused, or None: the one rule."""
        if slot.status == SlotStatus.CANCELLED:
            return CheckInStatus.SLOT_CANCELLED
        if booking.status in REFUSED_AS:
            return REFUSED_AS[booking.status]
        if booking.status == BookingStatus.ATTENDED:
            return None  # the store says "already", with when
        if now < opens:
            return CheckInStatus.NOT_OPEN
        if now > closes:
            return CheckInStatus.CLOSED
        return None

    async def _attended(
        self, user: UserKey, slot: Slot, booking: Booking | None, now: int
    ) -> Pledge:
        """The pledge attendance fulfils: the one the booking was made for, or a volunteering
        pledge worth the slot's hours."""
        if booking is not None and booking.pledge:
            note = f"slot {slot.id}"
            done = await self.pledges.fulfil(
                user, booking.pledge, CHECKED_IN, note, late=True, notify=False
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
        """Once a slot's check-in window has closed (when `add_slot` queued it): the booked
        who did not check in are no-shows. How many."""
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
