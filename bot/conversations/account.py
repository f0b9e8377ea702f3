"""The user's own things: my pledges, language, help, and deleting my data.

User: /mine
Bot:  Your pledges in 2026: ... 5 of the 3-5 trees of this year's duty.
Bot:  Tap a certificate to see it again. [WX2026-...]
User: /lang
Bot:  Choose a language. [中文] [English]
User: English
Bot:  Language set to English.
User: /forget
Bot:  Delete your pledges and certificates for good? [Delete]
User: Delete
Bot:  Deleted 2 pledges.
"""

from __future__ import annotations

from typing import assert_never

from bot.flow import Ctx, Flow, NoData, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply
from bot.pledges import Pledge, PledgeStatus

MAX_CERTIFICATE_CHOICES = 5
LANGUAGES = (Choice("lang:zh", "中文"), Choice("lang:en", "English"))


def _status(status: PledgeStatus) -> Msg:
    match status:
        case PledgeStatus.PLEDGED:
            return Msg(N_("status.pledged"))
        case PledgeStatus.FULFILLED:
            return Msg(N_("status.fulfilled"))
        case PledgeStatus.CANCELLED:
            return Msg(N_("status.cancelled"))
        case _:
            assert_never(status)


def _line(ctx: Ctx, pledge: Pledge) -> Msg:
    params: dict[str, Param] = {
        "date": ctx.catalog.local(pledge.created).date().isoformat(),
        "base": ctx.catalog.base_name(pledge.base, ctx.locale),
        "form": ctx.catalog.form_name(pledge.form, ctx.locale),
        "trees": pledge.trees,
        "status": _status(pledge.status),
    }
    if pledge.serial:
        return Msg(N_("mine.line_certified"), {**params, "serial": pledge.serial})
    return Msg(N_("mine.line"), params)


async def begin_mine(ctx: Ctx, data: NoData) -> Outcome:
    """This year's pledges, the duty so far, and the certificates to look at again."""
    rules = ctx.catalog.rules
    summary = await ctx.pledges.year_summary(ctx.user, ctx.local_year())
    if not summary.pledges:
        return End((Reply(Msg(N_("mine.none"), {"year": summary.year})),))
    gap = max(0, rules.duty_min_trees - summary.trees)
    duty = Msg(N_("mine.duty_done") if gap == 0 else N_("mine.duty_short"), {"gap": gap})
    params: dict[str, Param] = {
        "year": summary.year,
        "lines": tuple(_line(ctx, p) for p in summary.pledges),
        "trees": summary.trees,
        "min": rules.duty_min_trees,
        "max": rules.duty_max_trees,
        "duty": duty,
    }
    report = Reply(Msg(N_("mine.summary"), params))
    if not summary.certificates:
        return End((report,))
    return Next("pick_certificate", before=(report,))


async def ask_certificate(ctx: Ctx, data: NoData) -> Reply:
    """Which certificate to show again?"""
    summary = await ctx.pledges.year_summary(ctx.user, ctx.local_year())
    choices = tuple(
        Choice(f"cert:{p.serial}", p.serial or "")
        for p in summary.certificates[:MAX_CERTIFICATE_CHOICES]
    )
    return Reply(Msg(N_("mine.pick_certificate")), choices)


async def answer_certificate(ctx: Ctx, data: NoData, answer: Answer) -> Outcome:
    serial = (answer.choice_id or "").removeprefix("cert:")
    pledge = await ctx.pledges.by_serial(serial) if serial else None
    if pledge is None or pledge.user_key != ctx.user:
        return Again(Msg(N_("mine.pick_certificate_hint")))
    return End((Reply(Msg(N_("mine.certificate"), {"serial": serial}), certificate=serial),))


async def begin_lang(ctx: Ctx, data: NoData) -> Outcome:
    """Ask for the language."""
    return Next("ask_language")


async def ask_language(ctx: Ctx, data: NoData) -> Reply:
    """Chinese or English?"""
    return Reply(Msg(N_("lang.ask")), LANGUAGES)


async def answer_language(ctx: Ctx, data: NoData, answer: Answer) -> Outcome:
    if answer.choice_id not in ("lang:zh", "lang:en"):
        return Again(Msg(N_("lang.hint")))
    return End((Reply(Msg(N_("lang.set"))),), locale=answer.choice_id.removeprefix("lang:"))


async def begin_help(ctx: Ctx, data: NoData) -> Outcome:
    """What the bot does and its commands."""
    rules = ctx.catalog.rules
    params: dict[str, Param] = {
        "per_tree": rules.yuan_per_tree,
        "certificate": rules.min_donation_yuan,
        "min": rules.duty_min_trees,
        "max": rules.duty_max_trees,
    }
    return End((Reply(Msg(N_("help.text"), params)),))


async def begin_forget(ctx: Ctx, data: NoData) -> Outcome:
    """Ask before deleting."""
    return Next("confirm_forget")


async def ask_forget(ctx: Ctx, data: NoData) -> Reply:
    """Delete everything for good?"""
    return Reply(Msg(N_("forget.ask")), (Choice("forget:yes", Msg(N_("forget.yes"))),))


async def answer_forget(ctx: Ctx, data: NoData, answer: Answer) -> Outcome:
    if answer.choice_id != "forget:yes":
        return Again(Msg(N_("forget.hint")))
    gone = await ctx.pledges.forget(ctx.user)
    await ctx.certificates.forget([p.serial for p in gone if p.serial])
    return End((Reply(Msg(N_("forget.done"), {"count": len(gone)})),))


MINE = Flow(
    "mine", NoData, begin_mine, {"pick_certificate": Step(ask_certificate, answer_certificate)}
)
LANG = Flow("lang", NoData, begin_lang, {"ask_language": Step(ask_language, answer_language)})
HELP = Flow("help", NoData, begin_help, {})
FORGET = Flow("forget", NoData, begin_forget, {"confirm_forget": Step(ask_forget, answer_forget)})
