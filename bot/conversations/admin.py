"""For admins (TELEGRAM_ADMIN_IDS, WECHAT_ADMIN_OPENIDS): check volunteers in, see who is booked.

    Admin: /checkin
    Bot:   The volunteer's check-in code?
    Admin: K7M2Q9TA
    Bot:   Checked in: 张* at Jinkui Park, Sun 30 Nov 09:00-12:00 (3 trees).
    Admin: /volunteers
    Bot:   Which slot? [Sun 30 Nov 09:00-12:00 · Jinkui Park · 12/20]
    Admin: 1
    Bot:   12 booked: 张三 K7M2Q9TA ✓ ...  2 waiting.

    Admin: /broadcast
    Bot:   The appeal's text? ... Who gets it? [everyone] [Telegram] [WeChat] [中文] [English]
    Bot:   Preview ... 1,234 subscribers. [Send]

Anyone else gets "for admins only", and nothing happens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.conversations.booking import BookingDraft
from bot.conversations.common import page_asked, page_choices, place, when
from bot.flow import Ctx, Flow, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
from bot.services.audit import Actor
from bot.services.bookings import CheckInStatus
from bot.services.claims import Decision
from bot.services.names import mask_name
from bot.store.broadcasts import AudienceChannel, AudienceLang, Broadcast

RECENT_S = 24 * 3600  # slots that began up to a day ago can still be checked in


def admins_only(first_step: str) -> Callable[[Ctx, Any], Awaitable[Outcome]]:
    """A flow's beginning that lets admins on to `first_step` and tells anyone else no."""

    async def begin(ctx: Ctx, data: Any) -> Outcome:
        if not ctx.turn.is_admin:
            return End((Reply(Msg(N_("admin.only"))),))
        return Next(first_step)

    return begin


async def ask_code(ctx: Ctx, draft: BookingDraft) -> Reply:
    """The check-in code?"""
    return Reply(Msg(N_("admin.ask_code")))


async def answer_code(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    result = await ctx.bookings.check_in(answer.text, ctx.epoch)
    if result.status == CheckInStatus.UNKNOWN:
        return Again(Msg(N_("admin.unknown_code")))
    return End((Reply(ctx.bookings.describe(result, answer.text, ctx.locale)),))


async def ask_slot(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Which slot (recent or coming)?"""
    page = await ctx.bookings.upcoming(None, ctx.epoch - RECENT_S, draft.offset)
    slots = page.slots
    choices = tuple(
        Choice(
            f"slot:{s.id}",
            Msg(
                N_("admin.slot_label"),
                {
                    "when": when(ctx, s),
                    "place": place(ctx, s),
                    "booked": s.booked,
                    "capacity": s.capacity,
                },
            ),
        )
        for s in slots
    )
    asked = N_("admin.pick_slot") if slots or page.offset else N_("admin.no_slots")
    return Reply(Msg(asked), choices + page_choices(page))


async def answer_slot(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
    offset = page_asked(answer)
    if offset is not None:  # another page of slots
        draft.offset = offset
        return Next("pick_slot")
    slot_id = (answer.choice_id or "").removeprefix("slot:")
    roster = await ctx.bookings.roster(slot_id) if answer.choice_id else None
    if roster is None:
        return Again(Msg(N_("booking.pick_slot")))
    lines = tuple(
        Msg(
            N_("admin.volunteer_line"),
            {
                "mark": "✓" if v.attended else "·",
                "name": v.name or v.user_key.channel,
                "code": v.code,
            },
        )
        for v in roster.volunteers
    )
    params: dict[str, Param] = {
        "when": when(ctx, roster.slot),
        "place": place(ctx, roster.slot),
        "lines": lines,
        "booked": len(lines),
        "waiting": roster.waiting,
    }
    return End((Reply(Msg(N_("admin.volunteers"), params)),))


CHECKIN = Flow(
    "checkin", BookingDraft, admins_only("ask_code"), {"ask_code": Step(ask_code, answer_code)}
)
VOLUNTEERS = Flow(
    "volunteers",
    BookingDraft,
    admins_only("pick_slot"),
    {"pick_slot": Step(ask_slot, answer_slot)},
)


@dataclass(slots=True)
class AppealDraft:
    """The appeal an admin is composing."""

    text_zh: str = ""
    text_en: str = ""
    audience: str = "all"
    arg: str = ""
    v: int = 1


AUDIENCES = {  # choice → (channel, language, label)
    "all": (AudienceChannel.ALL, AudienceLang.ALL, N_("broadcast.audience_all")),
    "telegram": (AudienceChannel.TELEGRAM, AudienceLang.ALL, N_("broadcast.audience_telegram")),
    "wechat": (AudienceChannel.WECHAT, AudienceLang.ALL, N_("broadcast.audience_wechat")),
    "zh": (AudienceChannel.ALL, AudienceLang.ZH, N_("broadcast.audience_zh")),
    "en": (AudienceChannel.ALL, AudienceLang.EN, N_("broadcast.audience_en")),
}


async def ask_text(ctx: Ctx, draft: AppealDraft) -> Reply:
    """The appeal's text (Chinese, then optionally `---` and English)?"""
    return Reply(Msg(N_("broadcast.ask_text")))


async def answer_text(ctx: Ctx, draft: AppealDraft, answer: Answer) -> Outcome:
    zh, _, en = answer.text.partition("\n---\n")
    if not zh.strip():
        return Again(Msg(N_("broadcast.text_hint")))
    draft.text_zh, draft.text_en = zh.strip()[:2000], en.strip()[:2000]
    return Next("ask_audience")


async def ask_audience(ctx: Ctx, draft: AppealDraft) -> Reply:
    """Who gets it?"""
    choices = tuple(Choice(f"aud:{a}", Msg(label)) for a, (_, _, label) in AUDIENCES.items())
    return Reply(Msg(N_("broadcast.ask_audience")), choices)


async def answer_audience(ctx: Ctx, draft: AppealDraft, answer: Answer) -> Outcome:
    audience = (answer.choice_id or "").removeprefix("aud:")
    if audience not in AUDIENCES:
        return Again(Msg(N_("broadcast.audience_hint")))
    draft.audience = audience
    return Next("confirm_broadcast")


def _appeal(draft: AppealDraft, creator: str) -> Broadcast:
    channel, lang, _ = AUDIENCES[draft.audience]
    return Broadcast(
        id="",
        text_zh=draft.text_zh,
        text_en=draft.text_en,
        channel=channel,
        lang=lang,
        creator=creator,
    )


async def ask_confirm(ctx: Ctx, draft: AppealDraft) -> Reply:
    """The preview and the audience size, to confirm."""
    size = await ctx.appeals.audience_size(_appeal(draft, ctx.user))
    params: dict[str, Param] = {
        "text": draft.text_zh,
        "size": size,
        "audience": Msg(AUDIENCES[draft.audience][2]),
    }
    return Reply(
        Msg(N_("broadcast.preview"), params), (Choice("send", Msg(N_("broadcast.send"))),)
    )


async def answer_confirm(ctx: Ctx, draft: AppealDraft, answer: Answer) -> Outcome:
    if answer.choice_id != "send":
        return Again(Msg(N_("broadcast.confirm_hint")))
    bc = await ctx.appeals.create(_appeal(draft, ctx.user))
    return End((Reply(Msg(N_("broadcast.queued"), {"id": bc.id, "size": bc.total})),))


BROADCAST = Flow(
    "broadcast",
    AppealDraft,
    admins_only("ask_text"),
    {
        "ask_text": Step(ask_text, answer_text),
        "ask_audience": Step(ask_audience, answer_audience),
        "confirm_broadcast": Step(ask_confirm, answer_confirm),
    },
)


@dataclass(slots=True)
class Review:
    """The claim being rejected (its reason is asked next)."""

    claim: str = ""
    arg: str = ""
    v: int = 1


async def ask_review(ctx: Ctx, review: Review) -> Reply:
    """The oldest claim waiting: its pledge, note and photo; approve or reject?"""
    waiting = await ctx.claims.waiting(1)
    if not waiting:
        return Reply(Msg(N_("claims.none")))
    claim = waiting[0]
    pledge = await ctx.pledges.get(claim.user_key, claim.pledge_id)
    params: dict[str, Param] = {
        "id": claim.id,
        "base": ctx.catalog.base_name(claim.base, ctx.locale),
        "form": ctx.catalog.form_name(claim.form, ctx.locale),
        "trees": pledge.trees if pledge else 0,
        "name": mask_name(pledge.name) if pledge else "",
        "note": claim.note or "-",
        "link": ctx.claims.photo_link(claim.id),
    }
    choices = (
        Choice(f"approve:{claim.id}", Msg(N_("claims.approve"))),
        Choice(f"reject:{claim.id}", Msg(N_("claims.reject"))),
    )
    return Reply(Msg(N_("claims.review"), params), choices, photo=claim.id)


async def answer_review(ctx: Ctx, review: Review, answer: Answer) -> Outcome:
    action, _, claim_id = (answer.choice_id or "").partition(":")
    if action == "approve" and claim_id:
        decision = await ctx.claims.decide(claim_id, True, Actor.chat_admin(ctx.user))
        return await _after_decision(ctx, decision, N_("claims.approved"))
    if action == "reject" and claim_id:
        review.claim = claim_id
        return Next("ask_reason")
    return Again(Msg(N_("claims.review_hint")))


async def ask_reason(ctx: Ctx, review: Review) -> Reply:
    """Why is it not accepted (the citizen is told)?"""
    return Reply(Msg(N_("claims.ask_reason")))


async def answer_reason(ctx: Ctx, review: Review, answer: Answer) -> Outcome:
    reason = answer.text.strip()[:200]
    if not reason:
        return Again(Msg(N_("claims.reason_hint")))
    decision = await ctx.claims.decide(review.claim, False, Actor.chat_admin(ctx.user), reason)
    return await _after_decision(ctx, decision, N_("claims.rejected"))


async def _after_decision(ctx: Ctx, decision: Decision, done_key: str) -> Outcome:
    said = Reply(Msg(done_key if decision == Decision.DONE else N_("claims.already")))
    if await ctx.claims.waiting(1):
        return Next("review", before=(said,))
    return End((said, Reply(Msg(N_("claims.none")))))


async def begin_claims(ctx: Ctx, review: Review) -> Outcome:
    """Admins only; straight to the oldest claim, if any."""
    if not ctx.turn.is_admin:
        return End((Reply(Msg(N_("admin.only"))),))
    if not await ctx.claims.waiting(1):
        return End((Reply(Msg(N_("claims.none"))),))
    return Next("review")


CLAIMS = Flow(
    "claims",
    Review,
    begin_claims,
    {"review": Step(ask_review, answer_review), "ask_reason": Step(ask_reason, answer_reason)},
)
