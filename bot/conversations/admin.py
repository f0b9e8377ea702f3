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
from typing import Any, assert_never

from bot.bookings import CheckInStatus
from bot.conversations.booking import BookingDraft
from bot.conversations.common import place, when
from bot.flow import Ctx, Flow, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
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
    if result.slot is None:
        return End((Reply(Msg(N_("admin.unknown_code"))),))
    params: dict[str, Param] = {"when": when(ctx, result.slot), "place": place(ctx, result.slot)}
    match result.status:
        case CheckInStatus.ALREADY:
            return End((Reply(Msg(N_("admin.already"), params)),))
        case CheckInStatus.NOT_BOOKED:
            return End((Reply(Msg(N_("admin.not_booked"), params)),))
        case CheckInStatus.OK:
            trees = result.pledge.trees if result.pledge else 0
            return End((Reply(Msg(N_("admin.checked_in"), {**params, "trees": trees})),))
        case CheckInStatus.UNKNOWN:
            return Again(Msg(N_("admin.unknown_code")))
        case _:
            assert_never(result.status)


async def ask_slot(ctx: Ctx, draft: BookingDraft) -> Reply:
    """Which slot (recent or coming)?"""
    slots = await ctx.bookings.upcoming(None, ctx.epoch - RECENT_S)
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
    return Reply(Msg(N_("admin.pick_slot") if slots else N_("admin.no_slots")), choices)


async def answer_slot(ctx: Ctx, draft: BookingDraft, answer: Answer) -> Outcome:
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
