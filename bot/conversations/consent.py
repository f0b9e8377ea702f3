"""Before anything personal is kept: the privacy notice, the age group (asked once), and for a
child under 14 a guardian's consent. Flows that keep a name or a booking start through `gate`;
these steps join those flows and go on to the step the flow asked for (`then`).

    Bot:  Before you pledge: who runs this service, what is kept and why, for how long, how to
          see and delete it; the full notice: https://.../privacy  [Agree] [Do not agree]
    User: Agree
    Bot:  Which age group are you in? [Under 11] [11-13] [14-55] [56-60, men] [Older]
    User: 11-13
    Bot:  You are under 14: a parent or guardian must agree ... [I am the guardian and agree]
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from bot.flow import Ctx, FlowData, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
from bot.services.consent import (
    AgeGroup,
    Consent,
    Question,
    agreeing,
    declaring,
    guardian_agreeing,
)


class Gated(FlowData, Protocol):
    """Flow data that remembers where to go once consent is complete."""

    then: str


async def gate(ctx: Ctx, data: Gated, then: str, before: tuple[Reply, ...] = ()) -> Next:
    """Go to `then` if consent is complete, else through the steps it still needs first."""
    step = ctx.agreed.missing
    data.then = then
    return Next(step or then, before=before)


async def _onward(ctx: Ctx, data: Gated, consent: Consent) -> Outcome:
    return Next(consent.missing or data.then)


def notice(ctx: Ctx) -> Msg:
    """The short notice: who, what, why, how long, how to see and delete; a link to it all."""
    params: dict[str, Param] = {
        "operator": ctx.consents.operator(ctx.locale),
        "years": ctx.catalog.privacy.retention_years,
        "days": ctx.catalog.deadlines.evidence_days,
        "link": ctx.consents.notice_link(ctx.locale),
    }
    return Msg(N_("privacy.notice"), params)


async def ask_notice(ctx: Ctx, data: Gated) -> Reply:
    """The notice, to agree to or not."""
    choices = (
        Choice("privacy:agree", Msg(N_("privacy.agree"))),
        Choice("privacy:decline", Msg(N_("privacy.decline"))),
    )
    return Reply(notice(ctx), choices)


async def answer_notice(ctx: Ctx, data: Gated, answer: Answer) -> Outcome:
    if answer.choice_id == "privacy:decline":
        return End(
            (Reply(Msg(N_("privacy.declined"), {"link": ctx.consents.notice_link(ctx.locale)})),)
        )
    if answer.choice_id != "privacy:agree":
        return Again(Msg(N_("privacy.hint")))
    return await _onward(ctx, data, ctx.change_consent(agreeing()))


_AGE_LABELS = {
    AgeGroup.CHILD: N_("age.child"),
    AgeGroup.YOUNG: N_("age.young"),
    AgeGroup.ADULT: N_("age.adult"),
    AgeGroup.OLDER_MAN: N_("age.older_man"),
    AgeGroup.SENIOR: N_("age.senior"),
}


def age_label(ctx: Ctx, group: AgeGroup) -> Msg:
    """An age group as the user chose it (the duty's ages come from the catalogue)."""
    rules = ctx.catalog.privacy
    bounds: dict[str, Param] = {
        "from": rules.age_from,
        "to": rules.age_to,
        "women": rules.age_to_women,
        "after_women": rules.age_to_women + 1,
        "before_from": rules.age_from - 1,
    }
    return Msg(_AGE_LABELS[group], bounds)


async def ask_age(ctx: Ctx, data: Gated) -> Reply:
    """Which age group? Asked once; it decides the certificate (duty or honorary)."""
    choices = tuple(Choice(f"age:{g}", age_label(ctx, g)) for g in AgeGroup)
    return Reply(Msg(N_("age.ask")), choices)


async def answer_age(ctx: Ctx, data: Gated, answer: Answer) -> Outcome:
    found = (answer.choice_id or "").removeprefix("age:")
    if found not in AgeGroup.__members__.values():
        return Again(Msg(N_("age.hint")))
    return await _onward(ctx, data, ctx.change_consent(declaring(AgeGroup(found))))


async def ask_guardian(ctx: Ctx, data: Gated) -> Reply:
    """A child under 14: a parent or guardian reads the notice and agrees, in this chat."""
    params: dict[str, Param] = {"link": ctx.consents.notice_link(ctx.locale)}
    choice = Choice("guardian:agree", Msg(N_("guardian.agree")))
    return Reply(Msg(N_("guardian.ask"), params), (choice,))


async def answer_guardian(ctx: Ctx, data: Gated, answer: Answer) -> Outcome:
    if answer.choice_id != "guardian:agree":
        return Again(Msg(N_("guardian.hint")))
    return await _onward(ctx, data, ctx.change_consent(guardian_agreeing()))


G = TypeVar("G", bound=Gated)


def steps(data: type[G]) -> dict[str, Step[G]]:
    """The consent steps, for a flow whose data is `data`."""
    found: dict[str, Step[G]] = {
        Question.NOTICE: Step(ask_notice, answer_notice, once=True),
        Question.AGE: Step(ask_age, answer_age, once=True),
        Question.GUARDIAN: Step(ask_guardian, answer_guardian, once=True),
    }
    return found
