"""A photo as evidence for a pledge fulfilled by a claim (in-kind donation, planting on one's
own). The photo arrives first; the engine holds it and starts this flow.

    User: (a photo of the planted trees, captioned "三棵银杏")
    Bot:  Photo received for your afforestation pledge at Jinkui Park; staff will review it.
    (two pledges waiting for a photo)
    Bot:  Which pledge is this photo for? [Jinkui Park · Afforestation] [Guzhuang · Protection]
    User: 1
    Bot:  Photo received ...
    (no pledge waiting for a photo)
    Bot:  None of your pledges is waiting for a photo. Pledge first: /pledge.
    (a photo received)
    Bot:  May it be shown on the base's public page once approved? No name goes with it.
          [Yes, show it] [No]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from bot.flow import Ctx, Flow, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
from bot.services.claims import Refusal, Submitted


@dataclass(slots=True)
class EvidenceDraft:
    """The photo's caption, if any."""

    note: str = ""
    claim: str = ""  # the claim made, once the photo is in
    v: int = 1


async def begin(ctx: Ctx, draft: EvidenceDraft) -> Outcome:
    """Straight to the pledge when only one waits for a photo."""
    waiting = await ctx.claims.open_for(ctx.user)
    if not waiting:
        await ctx.claims.take_held(ctx.user)  # not kept: nothing to attach it to
        return End((Reply(Msg(N_("evidence.nothing_open"))),))
    if len(waiting) == 1:
        return await _submit(ctx, draft, waiting[0].id)
    return Next("pick_pledge")


async def ask_pledge(ctx: Ctx, draft: EvidenceDraft) -> Reply:
    """Which pledge is the photo for?"""
    choices = tuple(
        Choice(
            f"pledge:{p.id}",
            Msg(
                N_("evidence.pledge_label"),
                {
                    "base": ctx.catalog.base_name(p.base, ctx.locale),
                    "form": ctx.catalog.form_name(p.form, ctx.locale),
                    "trees": p.trees,
                },
            ),
        )
        for p in await ctx.claims.open_for(ctx.user)
    )
    return Reply(Msg(N_("evidence.pick_pledge")), choices)


async def answer_pledge(ctx: Ctx, draft: EvidenceDraft, answer: Answer) -> Outcome:
    pledge_id = (answer.choice_id or "").removeprefix("pledge:")
    if not answer.choice_id or not pledge_id:
        return Again(Msg(N_("evidence.pick_hint")))
    return await _submit(ctx, draft, pledge_id)


async def _submit(ctx: Ctx, draft: EvidenceDraft, pledge_id: str) -> Outcome:
    photo = await ctx.claims.take_held(ctx.user)
    if photo is None:
        return End((Reply(Msg(N_("evidence.send_again"))),))
    result = await ctx.claims.submit(ctx.user, pledge_id, photo, draft.note)
    if isinstance(result, Submitted):
        params: dict[str, Param] = {
            "base": ctx.catalog.base_name(result.pledge.base, ctx.locale),
            "form": ctx.catalog.form_name(result.pledge.form, ctx.locale),
        }
        draft.claim = result.claim.id
        return Next("ask_public", before=(Reply(Msg(N_("evidence.received"), params)),))
    match result:
        case Refusal.TOO_BIG:
            return End((Reply(Msg(N_("evidence.too_big"))),))
        case Refusal.NOT_AN_IMAGE:
            return End((Reply(Msg(N_("evidence.not_an_image"))),))
        case Refusal.NOTHING_OPEN:
            return End((Reply(Msg(N_("evidence.nothing_open"))),))
        case _:
            assert_never(result)


async def ask_public(ctx: Ctx, draft: EvidenceDraft) -> Reply:
    """May the photo be shown on the base's public page (no by default)?"""
    choices = (
        Choice("public:yes", Msg(N_("evidence.public_yes"))),
        Choice("public:no", Msg(N_("evidence.public_no"))),
    )
    return Reply(Msg(N_("evidence.ask_public")), choices)


async def answer_public(ctx: Ctx, draft: EvidenceDraft, answer: Answer) -> Outcome:
    if answer.choice_id == "public:yes" and await ctx.claims.let_show(ctx.user, draft.claim):
        return End((Reply(Msg(N_("evidence.public_shown"))),))
    if answer.choice_id == "public:no":
        return End((Reply(Msg(N_("evidence.public_kept"))),))
    return Again(Msg(N_("evidence.public_hint")))


FLOW = Flow(
    "evidence",
    EvidenceDraft,
    begin,
    {
        "pick_pledge": Step(ask_pledge, answer_pledge),
        "ask_public": Step(ask_public, answer_public),
    },
)
