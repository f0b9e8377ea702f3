"""Planting appeals: who gets them, and paced delivery that survives crashes and twin workers.

A worker takes due broadcasts, streams the audience from Redis in batches, claims each recipient
(HSETNX) right before sending and records the outcome after, one recipient at a time per worker.
So two workers never send one person the same appeal, and a worker killed mid-run leaves at most
the one recipient it was sending to claimed without an outcome (that person is not sent it
again: at most once). Each channel is paced across workers (BROADCAST_RATE messages a second; a
Telegram 429 pauses every worker) with clients of its own, so interactive replies are never held
up. WeChat users
who wrote in the last 48 hours get a customer-service message; the others are counted as
outside the window (the mass-send API, within its monthly quota, reaches them when asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from telegram import InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import ExtBot
from wechatpy.exceptions import WeChatClientException

from bot import i18n
from bot.catalog import Catalog
from bot.errors import BotError
from bot.handlers.wechat_api import OUT_OF_WINDOW, WeChatApi
from bot.store import Store
from bot.store_broadcasts import Broadcast, BroadcastStore
from bot.store_slots import SlotStore

log = logging.getLogger(__name__)

CHANNELS = ("telegram", "wechat", "web", "shell")
WINDOW_S = 48 * 3600
MASS_PER_MONTH = 4  # a service account's mass sends a month
ATTEMPTS = 4
BATCH = 200


class BroadcastError(BotError):
    """A broadcast as asked cannot be made."""


@dataclass
class Outbound:
    """The clients a worker broadcasts through (each optional)."""

    telegram: ExtBot[Any] | None = None
    wechat: WeChatApi | None = None


class Broadcaster:
    """Create, count, deliver and report broadcasts."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        slots: SlotStore,
        rate: float,
        outbound: Outbound | None = None,
    ) -> None:
        self.users = store
        self.catalog = catalog
        self.slots = slots
        self.store = BroadcastStore(store)
        self.outbound = outbound or Outbound()
        self.rate = rate
        self._media: dict[str, str] = {}  # broadcast id → WeChat media_id of its image

    def with_outbound(self, outbound: Outbound, rate: float | None = None) -> Broadcaster:
        """The same broadcaster sending through these clients (a worker's), at `rate`."""
        return Broadcaster(self.users, self.catalog, self.slots, rate or self.rate, outbound)

    # -- creating -----------------------------------------------------------------------------

    async def create(self, draft: Broadcast, image: bytes | None = None) -> Broadcast:
        """Check and store a broadcast, with its audience size counted now."""
        if draft.channel not in ("all", "telegram", "wechat"):
            raise BroadcastError("channel must be telegram, wechat or all")
        if draft.lang not in ("all", "zh", "en"):
            raise BroadcastError("lang must be zh, en or all")
        if draft.base and self.catalog.base(draft.base) is None:
            raise BroadcastError(f"unknown base {draft.base!r}")
        if not (draft.text_zh.strip() or draft.text_en.strip()):
            raise BroadcastError("the appeal needs a text")
        if draft.wechat_mass:
            await self._take_mass_quota()
        total = await self.audience_size(draft)
        bc = await self.store.create(draft, image)
        await self.store.set_total(bc.id, total)
        return await self.store.get(bc.id) or bc

    async def _take_mass_quota(self) -> None:
        month = time.strftime("%Y-%m")
        key = f"{self.store.prefix}wechat:mass:{month}"  # TTL: the month, and a little
        redis = self.users.redis
        used = int(await self.users.call(redis.incr(key)))
        await self.users.call(redis.expire(key, 40 * 86400))
        if used > MASS_PER_MONTH:
            raise BroadcastError(f"the WeChat mass-send quota ({MASS_PER_MONTH} a month) is used")

    async def audience_size(self, draft: Broadcast) -> int:
        """How many subscribers the broadcast would reach (read in batches)."""
        total = 0
        async for batch in self.recipients(draft):
            total += len(batch)
        return total

    async def recipients(self, bc: Broadcast) -> AsyncIterator[list[str]]:
        """The audience, a batch at a time: subscribers of the channel(s), who pledged at the
        base if one is given, in the language if one is given."""
        sources = (
            [self.store.pledgers(bc.base)]
            if bc.base
            else [self.store.subscribers(c) for c in self._channels(bc)]
        )
        for source in sources:
            async for batch in self.store.members(source, BATCH):
                chosen = [u for u in batch if u.split(":", 1)[0] in self._channels(bc)]
                if bc.base and chosen:
                    flags = await self.store.subscribed(chosen)
                    chosen = [u for u, ok in zip(chosen, flags, strict=True) if ok]
                if bc.lang != "all" and chosen:
                    locales = await self.store.locales(chosen)
                    chosen = [
                        u
                        for u, lo in zip(chosen, locales, strict=True)
                        if (lo or i18n.DEFAULT_LOCALE) == bc.lang
                    ]
                if chosen:
                    yield chosen

    @staticmethod
    def _channels(bc: Broadcast) -> tuple[str, ...]:
        return CHANNELS if bc.channel == "all" else (bc.channel,)

    # -- delivering ---------------------------------------------------------------------------

    async def run_once(self, now: int | None = None) -> int:
        """Deliver every due broadcast; how many recipients this worker handled."""
        handled = 0
        for bc in await self.store.recent(50):
            due = bc.status == "sending" or (
                bc.status == "scheduled" and bc.at <= (now or int(time.time()))
            )
            if due:
                handled += await self.deliver(bc)
        return handled

    async def deliver(self, bc: Broadcast) -> int:
        """Send a broadcast to everyone not yet claimed; stops when it is cancelled."""
        await self.store.set_status(bc.id, "sending", ("scheduled",))
        if bc.wechat_mass and bc.channel in ("all", "wechat"):
            await self._mass_send(bc)
        handled = 0
        image = await self.store.image(bc.id)
        async for batch in self.recipients(bc):
            current = await self.store.get(bc.id)
            if current is None or current.status == "cancelled":
                return handled
            locales = await self.store.locales(batch)
            window = await self._in_window(batch)
            for user_key, locale, reachable in zip(batch, locales, window, strict=True):
                if await self.store.claim(bc.id, user_key):
                    result = await self._send(bc, user_key, locale, reachable, image)
                    await self.store.finish(bc.id, user_key, result)
                    handled += 1
        if await self.store.set_status(bc.id, "done", ("sending",)):
            await self._report(bc.id)
        return handled

    async def _in_window(self, batch: list[str]) -> list[bool]:
        """For WeChat users: wrote within 48 hours (True for everyone else)."""
        openids = [u.split(":", 1)[1] for u in batch if u.startswith("wechat:")]
        active = iter(
            await self.users.active_since(openids, int(time.time()) - WINDOW_S) if openids else []
        )
        return [next(active) if u.startswith("wechat:") else True for u in batch]

    async def _send(
        self,
        bc: Broadcast,
        user_key: str,
        locale: str | None,
        reachable: bool,
        image: bytes | None,
    ) -> str:
        channel, user_id = user_key.split(":", 1)
        english = (locale or i18n.DEFAULT_LOCALE) == "en"
        text = (bc.text_en if english else bc.text_zh) or bc.text_zh or bc.text_en
        try:
            if channel == "telegram":
                return await self._telegram(int(user_id), user_key, text, image)
            if channel == "wechat":
                if not reachable:
                    return "outside_window"
                return await self._wechat(bc.id, user_id, user_key, text, image)
            await self.slots.leave_note(user_key, text)  # web and terminal
            return "sent"
        except Exception:  # one recipient's fault must not stop the broadcast
            log.exception("broadcast %s: a send failed", bc.id)
            return "failed"

    async def _telegram(self, chat_id: int, user_key: str, text: str, image: bytes | None) -> str:
        bot = self.outbound.telegram
        if bot is None:
            return "failed"
        for attempt in range(ATTEMPTS):
            await self._wait_turn("telegram", self.rate)
            try:
                if image:
                    await bot.send_photo(
                        chat_id,
                        InputFile(image, filename="appeal.png"),
                        caption=html.escape(text[:1024], quote=False),
                        parse_mode=ParseMode.HTML,
                    )
                else:
                    await bot.send_message(
                        chat_id, html.escape(text, quote=False), parse_mode=ParseMode.HTML
                    )
                return "sent"
            except RetryAfter as exc:  # Telegram asks everyone to wait
                await self.store.pause("telegram", _seconds(exc.retry_after))
            except Forbidden:
                await self.users.unsubscribe(user_key)
                return "unreachable"
            except BadRequest:
                return "failed"
            except NetworkError:
                await asyncio.sleep(0.2 * 2**attempt)
        return "failed"

    async def _wechat(
        self, bc_id: str, openid: str, user_key: str, text: str, image: bytes | None
    ) -> str:
        api = self.outbound.wechat
        if api is None:
            return "failed"
        await self._wait_turn("wechat", self.rate)
        try:
            await api.send_text(openid, text)
            if image:
                if bc_id not in self._media:
                    self._media[bc_id] = await api.upload_image(image, "appeal.png")
                await api.send_image(openid, self._media[bc_id])
        except WeChatClientException as exc:
            if exc.errcode == OUT_OF_WINDOW:
                await self.users.mark_unreachable(user_key)
                return "unreachable"
            log.warning("broadcast %s: WeChat refused (%s)", bc_id, exc.errcode)
            return "failed"
        return "sent"

    async def _mass_send(self, bc: Broadcast) -> None:
        api = self.outbound.wechat
        if api is None or not await self.store.claim(bc.id, "wechat:*mass*"):
            return
        text = bc.text_zh or bc.text_en
        try:
            await api.mass_send_text(text)
            await self.store.finish(bc.id, "wechat:*mass*", "sent")
        except WeChatClientException as exc:
            log.warning("broadcast %s: mass send refused (%s)", bc.id, exc.errcode)
            await self.store.finish(bc.id, "wechat:*mass*", "failed")

    async def _wait_turn(self, channel: str, rate: float) -> None:
        """Wait until the channel's shared pace lets one more message go."""
        wait = await self.store.pace(channel, rate)
        while wait > 0:  # the pace lives in Redis, shared by workers: poll it
            await asyncio.sleep(wait)
            wait = await self.store.pace(channel, rate)

    async def _report(self, bc_id: str) -> None:
        bc = await self.store.get(bc_id)
        if bc is None or not bc.creator:
            return
        params = {
            "id": bc.id,
            **{
                k: bc.counts.get(k, 0) for k in ("sent", "failed", "unreachable", "outside_window")
            },
        }
        note = {
            "user": bc.creator,
            "key": "broadcast.report",
            "params": params,
            "certificate": None,
        }
        await self.slots.enqueue("notify", json.dumps(note))

    async def run(self, stop: asyncio.Event, tick_s: float = 1.0) -> None:
        """Deliver due broadcasts until `stop` is set."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("broadcast round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick_s)

    async def cancel(self, bc_id: str) -> bool:
        """Stop a broadcast that has not finished."""
        return await self.store.set_status(bc_id, "cancelled", ("scheduled", "sending"))


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
