"""How fast an outlet may send: per chat for replies, or one pace shared by every process in
Redis for appeals. A platform's "too many requests" holds the pace for the time it asks."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Protocol

from aiolimiter import AsyncLimiter

from bot.store.broadcasts import BroadcastStore

CHAT_BURST = 3  # messages one chat may get at once before pacing sets in
PACED_CHATS = 10_000


class Pace(Protocol):
    """When the next message may go."""

    async def wait(self, chat: Hashable) -> None:
        """Return when one more message may go to `chat`."""

    async def hold(self, seconds: float) -> None:
        """The platform asked to wait `seconds` before sending more."""


class NoPace:
    """No pacing of our own (the platform's answers are the only limit)."""

    async def wait(self, chat: Hashable) -> None:
        """Go at once."""

    async def hold(self, seconds: float) -> None:
        """Wait as asked."""
        await asyncio.sleep(seconds)


class ChatPacing:
    """About `rate` messages a second to one chat, with short bursts allowed (Telegram's
    guidance for a single chat). Kept per process for the most recent chats only."""

    def __init__(self, rate: float, burst: int = CHAT_BURST, chats: int = PACED_CHATS) -> None:
        self.rate, self.burst, self.chats = rate, burst, chats
        self._limiters: OrderedDict[Hashable, AsyncLimiter] = OrderedDict()

    async def wait(self, chat: Hashable) -> None:
        """Return when one more message may go to `chat`."""
        limiter = self._limiters.pop(chat, None) or AsyncLimiter(
            self.burst, self.burst / self.rate
        )
        self._limiters[chat] = limiter
        if len(self._limiters) > self.chats:
            self._limiters.popitem(last=False)
        await limiter.acquire()

    async def hold(self, seconds: float) -> None:
        """Wait as asked, in this process."""
        await asyncio.sleep(seconds)


class SharedPace:
    """`rate` messages a second on a channel, overall: every process and worker takes its turn
    from one "next free moment" in Redis, and a 429 pauses them all."""

    def __init__(self, broadcasts: BroadcastStore, channel: str, rate: float) -> None:
        self.broadcasts = broadcasts
        self.channel = channel
        self.rate = rate

    async def wait(self, chat: Hashable) -> None:
        """Return when the channel's shared pace lets one more message go."""
        wait = await self.broadcasts.pace(self.channel, self.rate)
        while wait > 0:  # the pace lives in Redis, shared by workers: poll it
            await asyncio.sleep(wait)
            wait = await self.broadcasts.pace(self.channel, self.rate)

    async def hold(self, seconds: float) -> None:
        """Pause every worker's sending on the channel."""
        await self.broadcasts.pause(self.channel, seconds)
