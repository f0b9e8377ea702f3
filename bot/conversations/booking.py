"""Volunteer booking: base → slot → booked (or the waitlist); my bookings → cancel.

    Bot:  Where would you like to volunteer? (bases offering volunteering)
    User: 金匮
    Bot:  Slots in the next 14 days: [Sun 30 Nov 09:00-12:00 · planting · 3/20 left] ...
    User: 1
    (no name on file)  Bot: Which name goes on the certificate? [张三]
    User: 张三
    Bot:  Booked: date, place, task, what to bring, check-in code K7M2Q9TA.
    (a full slot)  Bot: That slot is full. [Join the waitlist]
    User: /bookings
    Bot:  Your bookings: ... [Sun 30 Nov 09:00-12:00 · Jinkui Park]
    User: 1
    Bot:  Cancel this booking? [Cancel the booking]
    User: 1
    Bot:  Cancelled. (The first person waiting gets the place and is told.)

Reminders carry `act:cancel_booking:SLOT` and `act:keep_booking:SLOT` buttons, which start the
flows below whatever the user was doing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from bot.catalog import Base
from bot.conversations import consent
from bot.conversations.common import (
    name_answer,
    name_question,
    page_asked,
    page_choices,
    place,
    place_reply,
    when,
)
from bot.flow import Ctx, Flow, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
from bot.services.bookings import BookStatus, CancelStatus
from bot.store.slots import BookingStatus, Slot


@dataclass(slots=True)
class BookingDraft:
    """The base and slot chosen so far; `arg` is a slot id given by a reminder's button;
    `pledge` the pledge the booking is to fulfil (from the pledge flow)."""

    base: str | None = None
    slot: str | None = None
    arg: str = ""
    pledge: str = ""
    then: str = ""  # the step after the consent steps
    name: str = ""  # the name on the certificate attendance earns
    offset: int = 0  # the page of slots shown
    v: int = 3


def _volunteering_bases(ctx: Ctx) -> list[Base]:
    return [b for b in ctx.catalog.bases if "volunteering" in b.forms]


async def begin_book(ctx: Ctx, draft: BookingDraft) -> Outcome:
    """Straight to the slots when the base is known (from the pledge flow); the privacy
    notice and the age group first, the first time."""
    first = "ask_base" if ctx.catalog.base(draft.base or "") is None else "ask_slot"
    return await consent.gate(ctx, draft, first)


async def ask_base(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Where would you like to volunteer?"""
    choices = tuple(Choice(f"base:{b.id}", b.name(ctx.locale)) for b in _volunteering_bases(ctx))
    return Reply(Msg(N_("booking.ask_base")), choices)


async def answer_base(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    base = ctx.catalog.base((answer.choice_id or "").removeprefix("base:"))
    if base is None or base not in _volunteering_bases(ctx):
        return Again(Msg(N_("pledge.pick_base")))
    draft.base = base.id
    return Next("ask_slot", before=(place_reply(ctx, base.id),))


async def ask_slot(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Which slot? The next days' open slots at the base, with places left."""
    page = await ctx.bookings.upcoming(draft.base, ctx.epoch, draft.offset)
    slots = page.slots
    params: dict[str, Param] = {
        "days": ctx.catalog.volunteering.booking_days_ahead,
        "base": ctx.catalog.base_name(draft.base or "", ctx.locale),
    }
    if not slots and not page_choices(page):
        return Reply(Msg(N_("booking.no_slots"), params))
    choices = tuple(
        Choice(
            f"slot:{s.id}",
            Msg(
                N_("booking.slot_label"),
                {
                    "when": when(ctx, s),
                    "task": s.task,
                    "left": s.left,
                    "capacity": s.capacity,
                },
            ),
        )
        for s in slots
    )
    return Reply(Msg(N_("booking.ask_slot"), params), choices + page_choices(page))


async def answer_slot(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    offset = page_asked(answer)
    if offset is not None:  # "more" or "earlier": the same question, another page
        draft.offset = offset
        return Next("ask_slot")
    slot_id = (answer.choice_id or "").removeprefix("slot:")
    if not answer.choice_id or not slot_id:
        return Again(Msg(N_("booking.pick_slot")))
    if not ctx.agreed.complete:  # begun before the notice changed
        return await consent.gate(ctx, draft, "ask_slot")
    draft.slot = slot_id
    draft.name = await _name_on_file(ctx, draft)
    return await _book(ctx, draft) if draft.name else Next("ask_name")


async def _name_on_file(ctx: Ctx, draft: BookingDraft) -> str:
    """The name already given: in this booking, on a pledge, or on an earlier booking."""
    return (
        draft.name or await ctx.pledges.name_of(ctx.user) or await ctx.bookings.name_of(ctx.user)
    )


async def ask_name(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Which name goes on the certificate attendance earns? (asked when none is on file)"""
    return name_question(ctx)


async def answer_name(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    name = name_answer(ctx, answer)
    if isinstance(name, Msg):
        return Again(name)
    draft.name = name
    return await _book(ctx, draft)


async def _book(ctx: Ctx, draft: BookingDraft) -> Outcome:
    """Book the chosen slot under the draft's name."""
    slot_id, pledge = draft.slot or "", draft.pledge
    result = await ctx.bookings.book(ctx.user, slot_id, draft.name, ctx.locale, ctx.epoch, pledge)
    match result.status:
        case BookStatus.BOOKED if result.slot:
            return End((booked_reply(ctx, result.slot, result.code or ""),))
        case BookStatus.FULL:
            return Next("offer_waitlist")
        case BookStatus.OVERLAP if result.slot:
            return Again(Msg(N_("booking.overlap"), {"when": when(ctx, result.slot)}))
        case BookStatus.ALREADY:
            return Again(Msg(N_("booking.already")))
        case (
            BookStatus.BOOKED
            | BookStatus.OVERLAP
            | BookStatus.WAITLISTED
            | BookStatus.CLOSED
            | BookStatus.CANCELLED
            | BookStatus.UNKNOWN
        ):
            return Again(Msg(N_("booking.closed")))
        case _:
            assert_never(result.status)


def booked_reply(ctx: Ctx, slot: Slot, code: str) -> Reply:
    """The confirmation: when, where, what, what to bring, the check-in code."""
    params: dict[str, Param] = {
        "when": when(ctx, slot),
        "place": place(ctx, slot),
        "task": slot.task,
        "code": code,
        "bring": ctx.catalog.volunteering.bring(ctx.locale),
    }
    booked = Msg(N_("booking.booked"), params)  # with the QR code for the gate
    return Reply(booked, qr=code, place=slot.base, offer_updates=True)


async def ask_waitlist(ctx: Ctx, draft: BookingDraft) -> Reply:
    """The slot is full: wait for a place?"""
    return Reply(Msg(N_("booking.full")), (Choice("waitlist", Msg(N_("booking.join_waitlist"))),))


async def answer_waitlist(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    if answer.choice_id != "waitlist" or not draft.slot:
        return Again(Msg(N_("booking.waitlist_hint")))
    result = await ctx.bookings.wait(
        ctx.user, draft.slot, draft.name, ctx.locale, ctx.epoch, draft.pledge
    )
    match result.status:
        case BookStatus.BOOKED if result.slot:
            return End((booked_reply(ctx, result.slot, result.code or ""),))
        case BookStatus.WAITLISTED:
            position = {"position": result.position or 0}
            return End((Reply(Msg(N_("booking.waitlisted"), position)),))
        case (
            BookStatus.BOOKED
            | BookStatus.ALREADY
            | BookStatus.FULL
            | BookStatus.OVERLAP
            | BookStatus.CLOSED
            | BookStatus.CANCELLED
            | BookStatus.UNKNOWN
        ):
            return End((Reply(Msg(N_("booking.closed"))),))
        case _:
            assert_never(result.status)


async def begin_bookings(ctx: Ctx, draft: BookingDraft) -> Outcome:
    """The user's coming bookings; pick one to cancel it."""
    active = await ctx.bookings.active(ctx.user, ctx.epoch)
    if not active:
        return End((Reply(Msg(N_("booking.none"))),))
    lines = tuple(
        Msg(
            N_("booking.line_waiting")
            if b.status == BookingStatus.WAITLISTED
            else N_("booking.line"),
            {"when": when(ctx, s), "place": place(ctx, s), "code": b.code},
        )
        for b, s in active
    )
    codes = tuple(  # each booked place's code again, as a QR code to show at the gate
        Reply(Msg(N_("booking.code_again"), {"when": when(ctx, s), "code": b.code}), qr=b.code)
        for b, s in active
        if b.status == BookingStatus.BOOKED and b.code
    )
    listed = Reply(Msg(N_("booking.list"), {"lines": lines}))
    return Next("pick_booking", before=(listed, *codes))


async def ask_booking(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Which booking to cancel?"""
    active = await ctx.bookings.active(ctx.user, ctx.epoch)
    choices = tuple(
        Choice(
            f"booking:{s.id}",
            Msg(N_("booking.choice"), {"when": when(ctx, s), "place": place(ctx, s)}),
        )
        for _, s in active
    )
    return Reply(Msg(N_("booking.pick_to_cancel")), choices)


async def answer_booking(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    slot_id = (answer.choice_id or "").removeprefix("booking:")
    if not answer.choice_id or not slot_id:
        return Again(Msg(N_("booking.pick_slot")))
    draft.slot = slot_id
    return Next("confirm_cancel")


async def begin_cancel(ctx: Ctx, draft: BookingDraft) -> Outcome:
    """From a reminder's button: straight to confirming the cancellation of that slot."""
    draft.slot = draft.arg
    return Next("confirm_cancel")


async def ask_cancel(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Cancel this booking for good?"""
    slot = await ctx.bookings.slot(draft.slot or "")
    params: dict[str, Param] = (
        {"when": when(ctx, slot), "place": place(ctx, slot)} if slot else {"when": "", "place": ""}
    )
    return Reply(
        Msg(N_("booking.confirm_cancel"), params),
        (Choice("cancel-booking", Msg(N_("booking.cancel_button"))),),
    )


async def answer_cancel(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    if answer.choice_id != "cancel-booking":
        return Again(Msg(N_("booking.cancel_hint")))
    status = await ctx.bookings.cancel(ctx.user, draft.slot or "", ctx.epoch)
    return End((Reply(Msg(_cancelled(status))),))


def _cancelled(status: CancelStatus) -> str:
    match status:
        case CancelStatus.CANCELLED:
            key = N_("booking.cancelled")
        case CancelStatus.LEFT_WAITLIST:
            key = N_("booking.left_waitlist")
        case CancelStatus.TOO_LATE:
            key = N_("booking.too_late")
        case CancelStatus.NOT_BOOKED | CancelStatus.UNKNOWN:
            key = N_("booking.not_booked")
        case _:
            assert_never(status)
    return key


async def begin_keep(ctx: Ctx, draft: BookingDraft) -> Outcome:
    """From a reminder's button: the volunteer is coming."""
    found = await ctx.bookings.booking(ctx.user, draft.arg)
    if found is None or found[0].status != BookingStatus.BOOKED:
        return End((Reply(Msg(N_("booking.not_booked"))),))
    booking, slot = found
    return End((Reply(Msg(N_("booking.kept"), {"when": when(ctx, slot), "code": booking.code})),))


SLOT_STEPS = {
    "ask_base": Step(ask_base, answer_base),
    "ask_slot": Step(ask_slot, answer_slot),
    "ask_name": Step(ask_name, answer_name),
    "offer_waitlist": Step(ask_waitlist, answer_waitlist),
    **consent.steps(BookingDraft),
}
CANCEL_STEPS = {"confirm_cancel": Step(ask_cancel, answer_cancel)}

BOOK = Flow("book", BookingDraft, begin_book, SLOT_STEPS)
BOOKINGS = Flow(
    "bookings",
    BookingDraft,
    begin_bookings,
    {"pick_booking": Step(ask_booking, answer_booking), **CANCEL_STEPS},
)
CANCEL_BOOKING = Flow("cancel_booking", BookingDraft, begin_cancel, CANCEL_STEPS)
KEEP_BOOKING = Flow("keep_booking", BookingDraft, begin_keep, {})
