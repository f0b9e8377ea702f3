"""The pledge: base → form → amount or trees → name → confirm (or dedicate) → certificate.

    Bot:  Which base? (provincial and municipal pilot bases, one line each)
    User: 金匮
    Bot:  How will you take part at Jinkui Park? (the forms this base offers)
    User: Donation
    Bot:  How many yuan? 20 yuan count as one tree; 60 yuan earn the certificate. [60] [100] [200]
    User: 100
    Bot:  100 yuan count as 5 trees, enough for the certificate.
    Bot:  Which name goes on the certificate? [Zhang San]
    User: 张三丰
    Bot:  Please confirm: ... [Confirm] [🎁 Dedicate]
    (Dedicate, if they wish: "To whom? Printed under your name, not on the public verification
    page." [No dedication]; "献给女儿小满"; the confirmation again, with the dedication)
    User: Confirm
    Bot:  Recorded, thank you! Pay 100 yuan here: https://.../pay/... (or, without a merchant
          account: on the official donation page, reference K7M2Q9TA).
    (paid: the certificate arrives by itself; see payments.py)

Trees forms ask a number of trees instead of yuan. Then the catalogue says how the pledge is
fulfilled: paid (donation, adoption), a photo reviewed by staff (in-kind donation), or either a
planting event checked in or a photo (afforestation, nature protection: the bot asks which);
volunteering goes straight to booking a slot. Back and cancel are offered at every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import assert_never

from bot.catalog import Base, Form, Fulfilment, Measure
from bot.conversations import consent
from bot.conversations.common import (
    dedication_answer,
    dedication_question,
    name_answer,
    name_question,
    place_reply,
    whole_number,
)
from bot.errors import StaleStateError
from bot.flow import Ctx, Flow, Step
from bot.model import N_, Again, Answer, Choice, End, Msg, Next, Outcome, Param, Reply, Switch
from bot.services import serials
from bot.services.pledges import Pledge

QUICK_YUAN = (60, 100, 200)
DEDICATE = "dedicate"  # at the confirmation: add (or change) a dedication
QUICK_TREES = (3, 5, 10)


@dataclass(slots=True)
class PledgeDraft:
    """The answers so far; `id` makes recording the pledge idempotent."""

    id: str = field(default_factory=serials.new_id)
    base: str | None = None
    form: str | None = None
    amount_yuan: int = 0
    trees: int = 0
    name: str | None = None
    dedication: str = ""
    then: str = ""  # the step after the consent steps
    v: int = 1


def _base(ctx: Ctx, draft: PledgeDraft) -> Base:
    base = ctx.catalog.base(draft.base or "")
    if base is None:
        raise StaleStateError(f"base {draft.base!r} is not in the catalogue")
    return base


def _form(ctx: Ctx, draft: PledgeDraft) -> Form:
    form = ctx.catalog.form(draft.form or "")
    if form is None:
        raise StaleStateError(f"form {draft.form!r} is not in the catalogue")
    return form


async def begin(ctx: Ctx, draft: PledgeDraft) -> Outcome:
    """Start with the base (after the privacy notice and the age group, the first time)."""
    return await consent.gate(ctx, draft, "ask_base")


async def ask_base(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """Which base? Grouped by level, one line of description each."""
    lines: list[Msg] = []
    for level in ctx.catalog.levels:
        lines.append(Msg(N_("pledge.level_line"), {"level": level.name(ctx.locale)}))
        lines += [
            Msg(N_("pledge.base_line"), {"base": b.name(ctx.locale), "about": b.about(ctx.locale)})
            for b in ctx.catalog.bases
            if b.level == level.id
        ]
    choices = tuple(Choice(f"base:{b.id}", b.name(ctx.locale)) for b in ctx.catalog.bases)
    return Reply(Msg(N_("pledge.ask_base"), {"bases": tuple(lines)}), choices)


async def answer_base(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    base = ctx.catalog.base((answer.choice_id or "").removeprefix("base:"))
    if base is None:
        return Again(Msg(N_("pledge.pick_base")))
    draft.base = base.id
    if draft.form not in base.forms:
        draft.form = None
    return Next("ask_form", before=(place_reply(ctx, base.id),))


async def ask_form(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """How will you take part? Only the forms this base offers."""
    base = _base(ctx, draft)
    forms = [f for f in ctx.catalog.forms if f.id in base.forms]
    choices = tuple(Choice(f"form:{f.id}", f.name(ctx.locale)) for f in forms)
    return Reply(Msg(N_("pledge.ask_form"), {"base": base.name(ctx.locale)}), choices)


async def answer_form(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    form_id = (answer.choice_id or "").removeprefix("form:")
    form = ctx.catalog.form(form_id)
    if form is None or form.id not in _base(ctx, draft).forms:
        return Again(Msg(N_("pledge.pick_form")))
    draft.form = form.id
    if form.id == "volunteering":  # volunteering is booking a slot at this base
        return Switch("book", {"base": _base(ctx, draft).id})
    match form.measure:
        case Measure.YUAN:
            return Next("ask_amount")
        case Measure.TREES:
            return Next("ask_trees")
        case Measure.INTEREST:
            return Next("ask_name")
        case _:
            assert_never(form.measure)


async def ask_amount(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """How many yuan? With quick amounts."""
    rules = ctx.catalog.rules
    params: dict[str, Param] = {
        "per_tree": rules.yuan_per_tree,
        "certificate": rules.min_donation_yuan,
    }
    choices = tuple(
        Choice(f"yuan:{n}", Msg(N_("pledge.yuan_label"), {"n": n})) for n in QUICK_YUAN
    )
    return Reply(Msg(N_("pledge.ask_amount"), params), choices, numeric=True)


async def answer_amount(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    rules = ctx.catalog.rules
    value = whole_number(answer)
    if isinstance(value, Msg):
        return Again(value)
    if value < rules.yuan_per_tree:  # worth less than one tree: nothing to record
        return Again(Msg(N_("pledge.amount_too_small"), {"min": rules.yuan_per_tree}))
    if value > rules.max_donation_yuan:
        return Again(Msg(N_("pledge.amount_too_big"), {"max": rules.max_donation_yuan}))
    draft.amount_yuan, draft.trees = value, ctx.catalog.trees_for_yuan(value)
    gap = ctx.catalog.certificate_gap(_form(ctx, draft), value)
    key = N_("pledge.amount_counts") if gap == 0 else N_("pledge.amount_counts_short")
    note = Reply(Msg(key, {"yuan": value, "trees": draft.trees, "gap": gap}))
    return Next("ask_name", before=(note,))


async def ask_trees(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """How many trees (or their equivalent)? With quick numbers."""
    form = _form(ctx, draft)
    choices = tuple(
        Choice(f"trees:{n}", Msg(N_("pledge.trees_label"), {"n": n})) for n in QUICK_TREES
    )
    params: dict[str, Param] = {
        "form": form.name(ctx.locale),
        "certificate": ctx.catalog.rules.min_trees,
    }
    return Reply(Msg(N_("pledge.ask_trees"), params), choices, numeric=True)


async def answer_trees(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    value = whole_number(answer)
    if isinstance(value, Msg):
        return Again(value)
    if value > ctx.catalog.rules.max_trees:
        return Again(Msg(N_("pledge.trees_too_many"), {"max": ctx.catalog.rules.max_trees}))
    draft.trees, draft.amount_yuan = value, 0
    return Next("ask_name")


async def ask_name(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """Which name goes on the certificate?"""
    return name_question(ctx)


async def answer_name(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    name = name_answer(ctx, answer)
    if isinstance(name, Msg):
        return Again(name)
    draft.name = name
    return Next("confirm")


async def ask_dedication(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """To whom are the trees dedicated, if anyone?"""
    return dedication_question()


async def answer_dedication(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    dedication = dedication_answer(answer)
    if isinstance(dedication, Msg):
        return Again(dedication)
    draft.dedication = dedication
    return Next("confirm")


async def ask_confirm(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """The summary, to confirm."""
    form = _form(ctx, draft)
    params: dict[str, Param] = {
        "base": _base(ctx, draft).name(ctx.locale),
        "form": form.name(ctx.locale),
        "name": draft.name or "",
        "measure": _measure_text(form, draft),
        "dedication": draft.dedication,
    }
    key = N_("pledge.summary_dedicated") if draft.dedication else N_("pledge.summary")
    choices = (
        Choice("confirm", Msg(N_("pledge.confirm"))),
        Choice(DEDICATE, Msg(N_("pledge.dedicate"))),
    )
    return Reply(Msg(key, params), choices)


def _measure_text(form: Form, draft: PledgeDraft) -> Msg:
    match form.measure:
        case Measure.YUAN:
            params: dict[str, Param] = {"yuan": draft.amount_yuan, "trees": draft.trees}
            return Msg(N_("pledge.measure_yuan"), params)
        case Measure.TREES:
            return Msg(N_("pledge.measure_trees"), {"trees": draft.trees})
        case Measure.INTEREST:
            return Msg(N_("pledge.measure_interest"))
        case _:
            assert_never(form.measure)


async def answer_confirm(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    if answer.choice_id == DEDICATE:
        return Next("ask_dedication")
    if answer.choice_id != "confirm":
        return Again(Msg(N_("pledge.confirm_hint")))
    agreed = ctx.agreed
    if not agreed.complete:  # a conversation begun before the notice changed
        return await consent.gate(ctx, draft, "confirm")
    group = agreed.age_group
    form = _form(ctx, draft).id
    pledge = await ctx.pledges.confirm(
        Pledge(
            id=draft.id,
            user_key=ctx.user,
            base=_base(ctx, draft).id,
            form=form,
            trees=draft.trees,
            amount_yuan=draft.amount_yuan,
            name=draft.name or "",
            dedication=draft.dedication,
            locale=ctx.locale,
            created=ctx.now.isoformat(timespec="seconds"),
            honorary=group is not None and not group.on_duty,
            reference=ctx.payments.reference_for(form),
        )
    )
    recorded = _recorded(ctx, pledge)
    match pledge.way:
        case Fulfilment.PAYMENT:
            return End((recorded, await pay_reply(ctx, pledge)))
        case Fulfilment.CLAIM:
            return End((recorded, photo_reply(ctx, pledge)))
        case Fulfilment.EVENT_OR_CLAIM:
            return Next("how_to_fulfil", before=(recorded,))
        case Fulfilment.CHECKIN:
            return Switch("book", {"base": pledge.base, "pledge": pledge.id}, before=(recorded,))
        case _:
            assert_never(pledge.way)


def _recorded(ctx: Ctx, pledge: Pledge) -> Reply:
    """Recorded, what it counts, and what is missing for a certificate, if anything."""
    form = _form(ctx, PledgeDraft(form=pledge.form))
    match form.measure:
        case Measure.YUAN:
            gap = ctx.catalog.certificate_gap(form, pledge.amount_yuan)
            key = N_("pledge.recorded_yuan") if gap == 0 else N_("pledge.recorded_short_yuan")
        case Measure.TREES:
            gap = ctx.catalog.certificate_gap(form, pledge.trees)
            key = N_("pledge.recorded_trees") if gap == 0 else N_("pledge.recorded_short_trees")
        case Measure.INTEREST:
            gap, key = 0, N_("pledge.volunteer_recorded")
        case _:
            assert_never(form.measure)
    return Reply(Msg(key, {"gap": gap, "trees": pledge.trees}))


async def pay_reply(ctx: Ctx, pledge: Pledge) -> Reply:
    """How to pay: the pay link (WeChat Pay), or the official page and a reference code."""
    checkout = await ctx.payments.checkout(pledge)
    days = ctx.catalog.deadlines.payment_days
    if checkout.link:
        params: dict[str, Param] = {"amount": checkout.amount_yuan, "link": checkout.link}
        key = N_("pay.demo_link") if checkout.demo else N_("pay.link")
        return Reply(Msg(key, params | {"days": days}), offer_updates=True)
    where: Param = (
        Msg(N_("pay.official_page"), {"url": checkout.donation_url})
        if checkout.donation_url
        else Msg(N_("pay.official_channel"))
    )
    params = {
        "amount": checkout.amount_yuan,
        "reference": checkout.reference,
        "where": where,
        "days": days,
    }
    return Reply(Msg(N_("pay.reference"), params), offer_updates=True)


def photo_reply(ctx: Ctx, pledge: Pledge) -> Reply:
    """Send a photo as evidence, within the catalogue's days."""
    form = ctx.catalog.form(pledge.form)
    what = (
        N_("claim.what_goods")
        if form and form.measure == Measure.YUAN
        else N_("claim.what_planting")
    )
    params: dict[str, Param] = {"what": Msg(what), "days": ctx.catalog.deadlines.claim_days}
    return Reply(Msg(N_("claim.send_photo"), params), offer_updates=True)


async def ask_how(ctx: Ctx, draft: PledgeDraft) -> Reply:
    """Book a planting event at the base, or send a photo of your planting?"""
    choices = (
        Choice("fulfil:book", Msg(N_("pledge.fulfil_book"))),
        Choice("fulfil:photo", Msg(N_("pledge.fulfil_photo"))),
    )
    return Reply(Msg(N_("pledge.how_to_fulfil")), choices)


async def answer_how(ctx: Ctx, draft: PledgeDraft, answer: Answer) -> Outcome:
    if answer.choice_id == "fulfil:book":
        return Switch("book", {"base": draft.base or "", "pledge": draft.id})
    if answer.choice_id == "fulfil:photo":
        pledge = await ctx.pledges.get(ctx.user, draft.id)
        if pledge is not None:
            return End((photo_reply(ctx, pledge),))
    return Again(Msg(N_("pledge.how_hint")))


FLOW = Flow(
    name="pledge",
    data=PledgeDraft,
    begin=begin,
    steps={
        "ask_base": Step(ask_base, answer_base),
        "ask_form": Step(ask_form, answer_form),
        "ask_amount": Step(ask_amount, answer_amount),
        "ask_trees": Step(ask_trees, answer_trees),
        "ask_name": Step(ask_name, answer_name),
        "ask_dedication": Step(ask_dedication, answer_dedication),
        "confirm": Step(ask_confirm, answer_confirm),
        "how_to_fulfil": Step(ask_how, answer_how),
        **consent.steps(PledgeDraft),
    },
)
