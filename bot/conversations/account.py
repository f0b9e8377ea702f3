"""The user's own things: my pledges, language, help, and deleting my data.

User: /mine
Bot:  Your pledges in 2026: ... 5 of the 3-5 trees of this year's duty.
Bot:  Tap a certificate to see it again, or share it. [WX2026-...] [📤 Share: Jinkui Park]
User: 📤 Share: Jinkui Park
Bot:  (the share poster: masked name, trees, base, year, the QR code to /verify)
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

from dataclasses import dataclass
from typing import Any, assert_never

from bot.catalog import Fulfilment
from bot.conversations import consent
from bot.conversations.common import name_answer, name_question
from bot.flow import Ctx, Flow, NoData, Step
from bot.model import (
    N_,
    Again,
    Answer,
    Attachment,
    Choice,
    End,
    Msg,
    Next,
    Outcome,
    Param,
    Reply,
)
from bot.services.pledges import Pledge, PledgeStatus
from bot.store.claims import ClaimStatus

SHARE = "share:"  # a certificate's share poster, by serial
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
        case PledgeStatus.EXPIRED:
            return Msg(N_("status.expired"))
        case PledgeStatus.REVOKED:
            return Msg(N_("status.revoked"))
        case _:
            assert_never(status)


async def _next_step(ctx: Ctx, pledge: Pledge) -> Msg | None:
    """The one thing to do next for a pledge still waiting for its fulfilment (or for the
    name on its certificate)."""
    if pledge.awaits_name:
        return Msg(N_("mine.next_name"))
    if pledge.status != PledgeStatus.PLEDGED:
        return None
    match pledge.way:
        case Fulfilment.PAYMENT:
            checkout = await ctx.payments.checkout(pledge)
            if checkout.link:
                return Msg(
                    N_("mine.next_pay"), {"amount": checkout.amount_yuan, "link": checkout.link}
                )
            params: dict[str, Param] = {
                "amount": checkout.amount_yuan,
                "reference": checkout.reference,
            }
            return Msg(N_("mine.next_pay_reference"), params)
        case Fulfilment.CLAIM | Fulfilment.EVENT_OR_CLAIM:
            claim = await ctx.claims.of(pledge)
            if claim is not None and claim.status == ClaimStatus.WAITING:
                return Msg(N_("mine.next_review"))
            if claim is not None and claim.status == ClaimStatus.REJECTED:
                return Msg(N_("mine.next_rejected"), {"reason": claim.reason})
            return Msg(N_("mine.next_photo"))
        case Fulfilment.CHECKIN:
            return Msg(N_("mine.next_checkin"))
        case _:
            assert_never(pledge.way)


async def _line(ctx: Ctx, pledge: Pledge) -> Msg:
    params: dict[str, Param] = {
        "date": ctx.catalog.local(pledge.created).date().isoformat(),
        "base": ctx.catalog.base_name(pledge.base, ctx.locale),
        "form": ctx.catalog.form_name(pledge.form, ctx.locale),
        "trees": pledge.trees,
        "status": _status(pledge.status),
    }
    shown = pledge.serial and pledge.status == PledgeStatus.FULFILLED
    line = (
        Msg(N_("mine.line_certified"), {**params, "serial": pledge.serial or ""})
        if shown
        else Msg(N_("mine.line"), params)
    )
    step = await _next_step(ctx, pledge)
    return Msg(N_("mine.line_next"), {"line": line, "next": step}) if step else line


async def begin_mine(ctx: Ctx, data: NoData) -> Outcome:
    """This year's pledges with what each needs next, the duty so far, and the certificates
    to look at again."""
    rules = ctx.catalog.rules
    summary = await ctx.pledges.year_summary(ctx.user, ctx.local_year())
    if not summary.pledges:
        return End((Reply(Msg(N_("mine.none"), {"year": summary.year})),))
    gap = max(0, rules.duty_min_trees - summary.trees)
    duty = Msg(N_("mine.duty_done") if gap == 0 else N_("mine.duty_short"), {"gap": gap})
    params: dict[str, Param] = {
        "year": summary.year,
        "lines": tuple([await _line(ctx, p) for p in summary.pledges]),
        "trees": summary.trees,
        "min": rules.duty_min_trees,
        "max": rules.duty_max_trees,
        "duty": duty,
    }
    waiting = [p for p in summary.pledges if p.status == PledgeStatus.PLEDGED or p.awaits_name]
    report = Reply(Msg(N_("mine.summary"), params), offer_updates=bool(waiting))
    if not summary.certificates and not waiting:
        return End((report,))
    return Next("pick_certificate", before=(report,))


async def ask_certificate(ctx: Ctx, data: NoData) -> Reply:
    """Which certificate to show again (or which waiting pledge to cancel)?"""
    summary = await ctx.pledges.year_summary(ctx.user, ctx.local_year())
    shown = summary.certificates[:MAX_CERTIFICATE_CHOICES]
    choices = (
        tuple(Choice(f"cert:{p.serial}", p.serial or "") for p in shown)
        + tuple(
            Choice(f"{SHARE}{p.serial}", Msg(N_("mine.share_label"), _label(ctx, p)))
            for p in shown
        )
        + tuple(
            Choice(f"act:name_certificate:{p.id}", Msg(N_("mine.name_label"), _label(ctx, p)))
            for p in summary.pledges
            if p.awaits_name
        )[:MAX_CERTIFICATE_CHOICES]
        + tuple(
            Choice(f"act:cancel_pledge:{p.id}", Msg(N_("mine.cancel_label"), _label(ctx, p)))
            for p in summary.pledges
            if p.status == PledgeStatus.PLEDGED
        )[:MAX_CERTIFICATE_CHOICES]
    )
    key = N_("mine.pick_certificate") if summary.certificates else N_("mine.pick_action")
    return Reply(Msg(key), choices)


def _label(ctx: Ctx, pledge: Pledge) -> dict[str, Param]:
    return {
        "base": ctx.catalog.base_name(pledge.base, ctx.locale),
        "form": ctx.catalog.form_name(pledge.form, ctx.locale),
    }


async def answer_certificate(ctx: Ctx, data: NoData, answer: Answer) -> Outcome:
    chosen = answer.choice_id or ""
    share = chosen.startswith(SHARE)
    serial = chosen.removeprefix(SHARE) if share else chosen.removeprefix("cert:")
    pledge = await ctx.pledges.by_serial(serial) if serial != chosen else None
    if pledge is None or pledge.user_key != ctx.user or pledge.status != PledgeStatus.FULFILLED:
        return Again(Msg(N_("mine.pick_certificate_hint")))
    if share:
        return End((Reply(Msg(N_("mine.share")), poster=serial),))
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
    gone = await ctx.mydata.forget(ctx.user, ctx.epoch)
    params: dict[str, Param] = {
        "count": gone.pledges,
        "claims": gone.claims,
        "serials": gone.certificates,
    }
    return End((Reply(Msg(N_("forget.done"), params), forgotten=True),))


async def begin_mydata(ctx: Ctx, data: NoData) -> Outcome:
    """What is kept about me: a summary here, everything as a JSON file (a document on
    Telegram, a link elsewhere)."""
    found = await ctx.mydata.collect(ctx.user)
    kept: dict[str, Any] = found["kept"]
    agreed = ctx.agreed
    group = agreed.age_group
    listed = {"session", "pledges", "bookings", "consent", "grants", "notes"}
    agreed_at = ctx.catalog.local_stamp(agreed.agreed_at) if agreed.agreed_at else ""
    params: dict[str, Param] = {
        "user": ctx.user,
        "consent": Msg(N_("mydata.consent"), {"version": agreed.notice, "at": agreed_at})
        if agreed.notice
        else Msg(N_("mydata.no_consent")),
        "age": consent.age_label(ctx, group) if group else Msg(N_("mydata.unknown")),
        "pledges": len(kept.get("pledges") or {}),
        "bookings": len(kept.get("bookings") or {}),
        "photos": sum(1 for c in found["claims"] if c["photo_kept"]),
        "payments": len(found["payments"]),
        "appeals": Msg(N_("mydata.yes") if found["lists"].get("subscribers") else N_("mydata.no")),
        "grants": len(kept.get("grants") or {}),
        "notes": len(kept.get("notes") or []),
        "other": sum(1 for name in kept if name not in listed),
    }
    summary = Reply(Msg(N_("mydata.summary"), params))
    link: dict[str, Param] = {"link": ctx.mydata.link(ctx.user), "hours": 24}
    document = Attachment("mydata.json", ctx.mydata.as_json(found))
    return End((summary, Reply(Msg(N_("mydata.download"), link), attachment=document)))


async def begin_privacy(ctx: Ctx, data: NoData) -> Outcome:
    """The short notice again, with the link to the full one."""
    return End((Reply(consent.notice(ctx)),))


@dataclass(slots=True)
class Cancelling:
    """The pledge a citizen is cancelling (`arg`: from a /mine button)."""

    arg: str = ""
    v: int = 1


async def begin_cancel(ctx: Ctx, data: Cancelling) -> Outcome:
    """Ask before cancelling a waiting pledge."""
    pledge = await ctx.pledges.get(ctx.user, data.arg)
    if pledge is None or pledge.status != PledgeStatus.PLEDGED:
        return End((Reply(Msg(N_("cancel_pledge.not_open"))),))
    return Next("confirm_cancel_pledge")


async def ask_cancel(ctx: Ctx, data: Cancelling) -> Reply:
    """Cancel this pledge for good?"""
    pledge = await ctx.pledges.get(ctx.user, data.arg)
    params: dict[str, Param] = _label(ctx, pledge) if pledge else {"base": "", "form": ""}
    choice = Choice("cancel-pledge", Msg(N_("cancel_pledge.yes")))
    return Reply(Msg(N_("cancel_pledge.ask"), params), (choice,))


async def answer_cancel(ctx: Ctx, data: Cancelling, answer: Answer) -> Outcome:
    if answer.choice_id != "cancel-pledge":
        return Again(Msg(N_("cancel_pledge.hint")))
    done = await ctx.pledges.end(ctx.user, data.arg, PledgeStatus.CANCELLED, "citizen")
    if done is None or done.pledge.status != PledgeStatus.CANCELLED:
        return End((Reply(Msg(N_("cancel_pledge.not_open"))),))
    await ctx.payments.close_for(done.pledge)
    return End((Reply(Msg(N_("cancel_pledge.done"))),))


CANCEL_PLEDGE = Flow(
    "cancel_pledge",
    Cancelling,
    begin_cancel,
    {"confirm_cancel_pledge": Step(ask_cancel, answer_cancel)},
)
MINE = Flow(
    "mine", NoData, begin_mine, {"pick_certificate": Step(ask_certificate, answer_certificate)}
)
LANG = Flow("lang", NoData, begin_lang, {"ask_language": Step(ask_language, answer_language)})
HELP = Flow("help", NoData, begin_help, {})
MYDATA = Flow("mydata", NoData, begin_mydata, {})
PRIVACY = Flow("privacy", NoData, begin_privacy, {})
FORGET = Flow("forget", NoData, begin_forget, {"confirm_forget": Step(ask_forget, answer_forget)})


@dataclass(slots=True)
class Naming:
    """The pledge whose certificate waits for a name (`arg`, from a button)."""

    arg: str = ""
    then: str = ""  # the step after the consent steps
    v: int = 1


async def begin_naming(ctx: Ctx, naming: Naming) -> Outcome:
    """A certificate waiting for its name: ask for it (consent first, as for any name)."""
    pledge = await ctx.pledges.get(ctx.user, naming.arg)
    if pledge is None or not pledge.awaits_name:
        return End((Reply(Msg(N_("naming.nothing"))),))
    return await consent.gate(ctx, naming, "ask_name")


async def ask_certificate_name(ctx: Ctx, naming: Naming) -> Reply:
    """Which name goes on the certificate?"""
    return name_question(ctx)


async def answer_certificate_name(ctx: Ctx, naming: Naming, answer: Answer) -> Outcome:
    name = name_answer(ctx, answer)
    if isinstance(name, Msg):
        return Again(name)
    pledge = await ctx.pledges.name_certificate(ctx.user, naming.arg, name, "citizen")
    if pledge is None or not pledge.serial:
        return End((Reply(Msg(N_("naming.nothing"))),))
    done = Msg(N_("naming.done"), {"serial": pledge.serial})
    return End((Reply(done, certificate=pledge.serial),))


NAME_CERTIFICATE = Flow(
    "name_certificate",
    Naming,
    begin_naming,
    {"ask_name": Step(ask_certificate_name, answer_certificate_name), **consent.steps(Naming)},
)
