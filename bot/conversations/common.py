"""What several flows say the same way: a slot's time and place, a base's card."""

from __future__ import annotations

from bot.flow import Ctx
from bot.model import N_, Msg, Param, Reply, When
from bot.store.slots import Slot


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
