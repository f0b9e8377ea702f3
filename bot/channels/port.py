"""The output port: everything the bot sends on its own leaves through `Port.push`.

Reminders, booking notices, appeals and reports are pushed to a user wherever they are. Each
platform has an outlet (Telegram, WeChat) that sends and says how it went (`Delivery`); users of
a channel without an outlet here (the web chat, the terminal, or a platform this process has no
credentials for) get a note, shown at their next turn. A WeChat user outside the 48-hour window
gets a notice as a subscription notification while they have granted one (the outlet tries
that), else a note too; appeals skip them. `Delivery` says which way it went: SENT,
SUBSCRIPTION or NOTED.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.channels.base import numbered
from bot.logs import user_hash
from bot.model import Delivery, Message, UserKey
from bot.store.users import UserStore

log = logging.getLogger(__name__)


class Outlet(Protocol):
    """One platform's way of sending to its users."""

    async def push(self, user_id: str, messages: Sequence[Message]) -> Delivery:
        """Send to one user (the platform's id); how it went."""

    async def push_to_all(self, messages: Sequence[Message]) -> Delivery:
        """Send to every follower at once, where the platform can (UNREACHABLE otherwise)."""


class Port:
    """push(user, messages) -> Delivery, to whichever channel the user is on."""

    def __init__(
        self, outlets: Mapping[str, Outlet], users: UserStore, note_when_missed: bool = True
    ) -> None:
        self.outlets = dict(outlets)
        self.users = users
        self.note_when_missed = note_when_missed

    async def push(self, user: UserKey, messages: Sequence[Message]) -> Delivery:
        """Send to one user; a fault is logged and reported as FAILED, never raised."""
        outlet = self.outlets.get(user.channel)
        try:
            if outlet is None:
                await self._note(user, messages)
                return Delivery.NOTED
            delivery = await outlet.push(user.user_id, messages)
            if delivery == Delivery.SUBSCRIPTION and self.note_when_missed:
                await self._note(user, messages)  # the whole notice, with its buttons, too
            if delivery == Delivery.OUTSIDE_WINDOW and self.note_when_missed:
                await self._note(user, messages)  # shown when they next write
                return Delivery.NOTED
            return delivery
        except Exception:  # one user's fault must not stop the others
            log.exception("push to %s failed", user_hash(user))
            return Delivery.FAILED

    async def _note(self, user: UserKey, messages: Sequence[Message]) -> None:
        certificate = next((m.certificate for m in messages if m.certificate), None)
        await self.users.leave_note(user, numbered(messages), certificate)

    async def push_to_all(self, channel: str, messages: Sequence[Message]) -> Delivery:
        """Send to everyone on `channel` at once, where the platform can."""
        outlet = self.outlets.get(channel)
        if outlet is None:
            return Delivery.UNREACHABLE
        try:
            return await outlet.push_to_all(messages)
        except Exception:
            log.exception("push to all of %s failed", channel)
            return Delivery.FAILED
