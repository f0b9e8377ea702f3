"""What several flows say the same way: a slot's time and place, a base's card, the question
of the name on a certificate, and a whole number typed or picked."""

from __future__ import annotations

import re
import unicodedata

from bot.flow import Ctx
from bot.model import N_, Answer, Choice, Msg, Param, Reply, When
from bot.services import names
from bot.services.bookings import SlotPage
from bot.store.slots import Slot

PAGE_CHOICE = "slots:page:"
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_UNITS = (
    "元",
    "yuan",
    "rmb",
    "cny",
    "¥",
    "株",
    "棵",
    "trees",
    "tree",
    ",",
    "，",
)  # a choice that shows another page of slots: its offset follows


def when(ctx: Ctx, slot: Slot) -> When:
    """A slot's time, for a message."""
    return ctx.catalog.span(slot.start, slot.end)


def place(ctx: Ctx, slot: Slot) -> str:
    """A slot's base, in the user's language."""
    return ctx.catalog.base_name(slot.base, ctx.locale)


def place_reply(ctx: Ctx, base_id: str) -> Reply:
    """A base chosen: its picture, what it is, where it is and how to get there."""
    base = ctx.catalog.base(base_id)
    params: dict[str, Param] = {
        "base": base.name(ctx.locale) if base else "",
        "about": base.about(ctx.locale) if base else "",
    }
    return Reply(Msg(N_("place.intro"), params), place=base_id, picture_of=base_id)


def page_choices(page: SlotPage) -> tuple[Choice, ...]:
    """ "Earlier" and "more" under a page of slots, where there are any."""
    found = []
    if page.earlier is not None:
        found.append(Choice(f"{PAGE_CHOICE}{page.earlier}", Msg(N_("booking.earlier"))))
    if page.later is not None:
        found.append(Choice(f"{PAGE_CHOICE}{page.later}", Msg(N_("booking.more"))))
    return tuple(found)


def page_asked(answer: Answer) -> int | None:
    """The offset of the page of slots the answer asks for, if it asks for one."""
    offset = (answer.choice_id or "").removeprefix(PAGE_CHOICE)
    return int(offset) if answer.choice_id != offset and offset.isdigit() else None


def name_question(ctx: Ctx) -> Reply:
    """Which name goes on the certificate? Suggest the platform's display name when it would
    print as it is."""
    suggested = names.clean(ctx.turn.display_name or "")
    limit = ctx.catalog.rules.max_name_chars
    fits = suggested and len(suggested) <= limit and names.unprintable(suggested) is None
    if not fits:
        return Reply(Msg(N_("pledge.ask_name_typed"), {"max": limit}))
    return Reply(
        Msg(N_("pledge.ask_name"), {"max": limit}), (Choice("name:suggested", suggested),)
    )


def name_answer(ctx: Ctx, answer: Answer) -> str | Msg:
    """The name given for a certificate, or why it cannot be printed (a hint to ask again)."""
    name = names.clean(ctx.turn.display_name or "") if _picked(ctx, answer) else ""
    name = name or names.clean(answer.text)
    if not name:
        return Msg(N_("pledge.name_empty"))
    if names.only_digits(name):
        return Msg(N_("pledge.name_digits"))
    missing = names.unprintable(name)
    if missing is not None:
        return Msg(
            N_("pledge.name_unprintable"), {"char": missing, "code": f"U+{ord(missing):04X}"}
        )
    if len(name) > ctx.catalog.rules.max_name_chars:
        return Msg(N_("pledge.name_too_long"), {"max": ctx.catalog.rules.max_name_chars})
    return name


NO_DEDICATION = "dedication:none"


def dedication_question() -> Reply:
    """Dedicate the trees to someone? Optional, and kept off the public verification page."""
    limit = names.MAX_DEDICATION_CHARS
    skip = Choice(NO_DEDICATION, Msg(N_("pledge.no_dedication")))
    return Reply(Msg(N_("pledge.ask_dedication"), {"max": limit}), (skip,))


def dedication_answer(answer: Answer) -> str | Msg:
    """The dedication given ("" for none), or why it cannot be printed (a hint to ask again)."""
    if answer.choice_id == NO_DEDICATION:
        return ""
    text = names.clean(answer.text)
    if not text:
        return Msg(N_("pledge.dedication_empty"))
    missing = names.unprintable(text)
    if missing is not None:
        params: dict[str, Param] = {"char": missing, "code": f"U+{ord(missing):04X}"}
        return Msg(N_("pledge.dedication_unprintable"), params)
    if len(text) > names.MAX_DEDICATION_CHARS:
        return Msg(N_("pledge.dedication_too_long"), {"max": names.MAX_DEDICATION_CHARS})
    return text


def _picked(ctx: Ctx, answer: Answer) -> bool:
    """The suggested name was chosen: tapped, typed in full or by its number; typing part of
    it (a given name alone) means that part."""
    if answer.choice_id != "name:suggested":
        return False
    typed = answer.text.strip()
    suggested = names.clean(ctx.turn.display_name or "")
    return ctx.turn.choice_id is not None or typed.isdigit() or names.clean(typed) == suggested


def whole_number(answer: Answer) -> int | Msg:
    """A positive whole number from a quick choice or typed text, or the hint to show."""
    if answer.choice_id and ":" in answer.choice_id:
        return int(answer.choice_id.split(":", 1)[1])
    text = unicodedata.normalize("NFKC", answer.text).casefold()
    for unit in _UNITS:
        text = text.replace(unit, "")
    text = "".join(text.split())
    if not _NUMBER.match(text):
        return Msg(N_("pledge.not_a_number"))
    if "." in text and float(text) != int(float(text)):
        return Msg(N_("pledge.whole_number"))
    value = int(float(text)) if len(text) < 16 else 10**16
    return value if value > 0 else Msg(N_("pledge.positive_number"))
