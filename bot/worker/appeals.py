"""Appeal delivery: the worker's loop that sends due appeals through the output port.

One recipient at a time per worker: claimed (HSETNX) right before the send, its result recorded
after. So two workers never send one person the same appeal, and a worker killed mid-run leaves
at most the one recipient it was sending to claimed without a result (that person is not sent
it again: at most once). The pace is the port's: for appeals, BROADCAST_RATE messages a second
shared by every worker, a Telegram 429 pausing them all. WeChat users who wrote in the last 48
hours get a customer-service message; the others are counted as outside the window (the mass
send, within its monthly quota, reaches them when asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import assert_never

from bot import i18n
from bot.channels.port import Port
from bot.model import Channel, Delivery, Message, UserKey
from bot.services.appeals import Appeals
from bot.store.broadcasts import AudienceChannel, Broadcast, Result
from bot.store.users import UserStore

log = logging.getLogger(__name__)

WINDOW_S = 48 * 3600
MASS_RECIPIENT = "wechat:*mass*"  # the mass send, claimed and counted like one recipient
TICK_S = 1.0
BEAT_S = 1.0  # a worker says it is alive this often while it sends


def result_of(delivery: Delivery) -> Result:
    """How a push counts for an appeal: blocked users and WeChat's 45015 are unreachable."""
    match delivery:
        case Delivery.SENT | Delivery.SUBSCRIPTION | Delivery.NOTED:
            return Result.SENT
        case Delivery.BLOCKED | Delivery.UNREACHABLE | Delivery.OUTSIDE_WINDOW:
            return Result.UNREACHABLE
        case Delivery.FAILED:
            return Result.FAILED
        case _:
            assert_never(delivery)


class AppealSender:
    """Sends due appeals; any number may run against one Redis."""

    def __init__(
        self, appeals: Appeals, users: UserStore, port: Port, name: str | None = None
    ) -> None:
        self.appeals = appeals
        self.users = users
        self.port = port
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    async def run(self, stop: asyncio.Event, tick_s: float = TICK_S) -> None:
        """Deliver due appeals until `stop` is set."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("appeal round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick_s)

    async def run_once(self, now: int | None = None) -> int:
        """Deliver every due appeal; how many recipients this worker handled."""
        handled = 0
        async with self._beating():
            for bc in await self.appeals.due(now or int(time.time())):
                handled += 0 if bc.swept else await self.deliver(bc)
                await self.appeals.settle(bc)
        return handled

    @contextlib.asynccontextmanager
    async def _beating(self) -> AsyncIterator[None]:
        """Say this worker is alive while it works, so its claims are not given up. Stopped by
        an event, not by cancelling: a Redis call in flight is let finish."""
        done = asyncio.Event()

        async def beat() -> None:
            while not done.is_set():
                await self.appeals.beat(self.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), BEAT_S)

        beating = asyncio.create_task(beat())
        try:
            yield
        finally:
            done.set()
            await asyncio.gather(beating, return_exceptions=True)

    async def deliver(self, bc: Broadcast) -> int:
        """Send an appeal to everyone not yet claimed; stops when it is cancelled."""
        await self.appeals.start(bc)
        if bc.wechat_mass and bc.channel in (AudienceChannel.ALL, AudienceChannel.WECHAT):
            await self._mass_send(bc)
        handled = 0
        image = await self.appeals.image(bc)
        async for batch in self.appeals.recipients(bc):
            if await self.appeals.is_cancelled(bc):
                return handled
            locales = await self.users.locales(batch)
            window = await self._in_window(batch)
            for user, locale, reachable in zip(batch, locales, window, strict=True):
                if await self.appeals.claim(bc, user, self.name):
                    result = await self._send(bc, user, locale, reachable, image)
                    await self.appeals.finish(bc, user, result)
                    handled += 1
        return handled

    async def _in_window(self, batch: list[UserKey]) -> list[bool]:
        """For WeChat users: wrote within 48 hours (True for everyone else)."""
        openids = [u.user_id for u in batch if u.channel == Channel.WECHAT]
        since = int(time.time()) - WINDOW_S
        active = iter(await self.users.active_since(openids, since) if openids else [])
        return [next(active) if u.channel == Channel.WECHAT else True for u in batch]

    async def _send(
        self,
        bc: Broadcast,
        user: UserKey,
        locale: str | None,
        reachable: bool,
        image: bytes | None,
    ) -> Result:
        if not reachable:
            return Result.OUTSIDE_WINDOW
        text = bc.text_for(locale or i18n.DEFAULT_LOCALE)
        message = Message(text, image=image, image_name=f"appeal:{bc.id}" if image else "")
        return result_of(await self.port.push(user, [message]))

    async def _mass_send(self, bc: Broadcast) -> None:
        if not await self.appeals.claim(bc, MASS_RECIPIENT, self.name):
            return
        delivery = await self.port.push_to_all(Channel.WECHAT, [Message(bc.text_zh or bc.text_en)])
        await self.appeals.finish(bc, MASS_RECIPIENT, result_of(delivery))
