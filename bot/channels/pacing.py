"""How fast an outlet may send. A platform's limits are per account, not per process, so every
process and worker of a channel takes each send from one budget in Redis (store/pace.py): the
account's rate overall, a chat's rate for pushes (bursts of PUSH_BURST allowed), and for appeals a
share within the account's rate, so replies to people chatting keep the rest. A reply to a user's
own action is held by the account's rate only: the person is waiting for it. A platform's "too
many requests" holds the whole channel, replies too, for the time it asks."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Protocol

from bot.store.pace import Bucket, PaceStore

PUSH_BURST = 6  # pushed messages one chat may get at once before pacing sets in
ACCOUNT_BURST = 5  # sends the whole account may make at once


class Pace(Protocol):
    """When the next message may go."""

    async def wait(self, chat: Hashable, *, reply: bool = False) -> None:
        """Return when one more message may go to `chat` (`reply`: in answer to the chat's
        own message or tap, which no per-chat pace holds)."""

    async def hold(self, seconds: float) -> None:
        """The platform asked to wait `seconds` before sending more."""


class NoPace:
    """No pacing of our own (the platform's answers are the only limit)."""

    async def wait(self, chat: Hashable, *, reply: bool = False) -> None:
        """Go at once."""

    async def hold(self, seconds: float) -> None:
        """Wait as asked."""
        await asyncio.sleep(seconds)


class SharedBudget:
    """`rate` sends a second on a channel overall, `chat_rate` to one chat (when given), and
    `share` (a name and a rate) within them for one kind of sending: one budget for every
    process and worker, one Redis round trip per send when there is room."""

    def __init__(
        self,
        paces: PaceStore,
        channel: str,
        rate: float,
        chat_rate: float | None = None,
        share: tuple[str, float] | None = None,
    ) -> None:
        self.paces = paces
        self.channel = channel
        self.overall = Bucket("all", rate, ACCOUNT_BURST)
        self.chat_rate = chat_rate
        self.share = Bucket(share[0], share[1], ACCOUNT_BURST) if share else None

    async def wait(self, chat: Hashable, *, reply: bool = False) -> None:
        """Return when every bucket this send counts against has room, taking from each."""
        buckets = [self.overall]
        if self.chat_rate and not reply:
            buckets.append(Bucket(f"chat:{chat}", self.chat_rate, PUSH_BURST))
        if self.share is not None:
            buckets.append(self.share)
        delay = await self.paces.take(self.channel, buckets)
        while delay > 0:  # the budget lives in Redis, shared by other processes: ask again
            await asyncio.sleep(delay)
            delay = await self.paces.take(self.channel, buckets)

    async def hold(self, seconds: float) -> None:
        """Pause every process's sending on the channel."""
        await self.paces.pause(self.channel, seconds)
