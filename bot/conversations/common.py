"""What several flows say the same way: a slot's time and place."""

from __future__ import annotations

from bot.flow import Ctx
from bot.model import When
from bot.store.slots import Slot


def when(ctx: Ctx, slot: Slot) -> When:
    """A slot's time, for a message."""
    return ctx.catalog.span(slot.start, slot.end)


def place(ctx: Ctx, slot: Slot) -> str:
    """A slot's base, in the user's language."""
    return ctx.catalog.base_name(slot.base, ctx.locale)
