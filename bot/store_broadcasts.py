"""Redis keys and atomic operations for broadcasts (planting appeals).

A broadcast is `tp:{bc:7}:meta` (texts, audience, time, status, counters), `tp:{bc:7}:image`
and `tp:{bc:7}:state` (one field per recipient: claimed, then sent, failed or unreachable).
A recipient is claimed with HSETNX before the send, so two workers never send one recipient the
same appeal. Recipients come from the subscriber sets in SSCAN batches, never all at once.
Sending is paced per channel across every worker by a shared "next free moment", and a 429
pauses the whole channel (`tp:{pace:telegram}:...`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

from bot.store import Store

RESULTS = ("sent", "failed", "unreachable", "outside_window")

# KEYS: state, meta. ARGV: user, result. Records one recipient's outcome and counts it.
_FINISH = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'claimed' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""

# KEYS: next free moment, pause. ARGV: now ms, interval ms. -> ms to wait (0: send now, and
# the next message may go one interval later). Shared by every worker, so the rate is overall.
_PACE = """
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
if free > now then return free - now end
redis.call('SET', KEYS[1], now + interval, 'PX', math.floor(interval) + 1000)
return 0
"""


@dataclass(frozen=True, slots=True)
class Broadcast:
    """An appeal: texts, audience, when, and how far it got."""

    id: str
    text_zh: str
    text_en: str
    channel: str = "all"  # telegram, wechat or all
    lang: str = "all"  # zh, en or all
    base: str = ""  # only people who pledged at this base
    at: int = 0  # epoch seconds; 0 = now
    status: str = "scheduled"  # scheduled, sending, done, cancelled
    creator: str = ""  # user_key of the admin, "" from the command line
    wechat_mass: bool = False
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    started: int = 0  # when sending began, epoch seconds

    @property
    def done(self) -> int:
        """Recipients handled so far."""
        return sum(self.counts.get(r, 0) for r in RESULTS)


class BroadcastStore:
    """Broadcasts, recipients' states, audiences and pacing, over the bot's Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.prefix = store.prefix
        self._finish = self.redis.register_script(_FINISH)
        self._pace = self.redis.register_script(_PACE)

    def _bc(self, bc_id: str, name: str) -> str:
        return f"{self.prefix}{{bc:{bc_id}}}:{name}"

    def _all(self) -> str:
        return f"{self.prefix}broadcasts"  # no TTL: the admin's record (a zset by time)

    def subscribers(self, channel: str) -> str:
        """The subscriber set of a channel (Store.subscribe writes it)."""
        return f"{self.prefix}subscribers:{channel}"

    def pledgers(self, base: str) -> str:
        """Everyone who pledged at a base (no TTL: audiences by base)."""
        return f"{self.prefix}pledgers:{base}"

    async def create(self, bc: Broadcast, image: bytes | None) -> Broadcast:
        """Store a new broadcast; its id is given here."""
        bc_id = str(await self.store.call(self.redis.incr(f"{self.prefix}broadcasts:next")))
        meta = {
            "text_zh": bc.text_zh,
            "text_en": bc.text_en,
            "channel": bc.channel,
            "lang": bc.lang,
            "base": bc.base,
            "at": bc.at,
            "status": "scheduled",
            "creator": bc.creator,
            "wechat_mass": int(bc.wechat_mass),
            "total": bc.total,
        }
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._bc(bc_id, "meta"), mapping=meta)
        if image:  # base64: the client decodes replies as text
            pipe.set(self._bc(bc_id, "image"), base64.b64encode(image).decode())
        pipe.zadd(self._all(), {bc_id: bc.at or int(time.time())})
        await self.store.call(pipe.execute())
        return await self.get(bc_id) or bc

    async def get(self, bc_id: str) -> Broadcast | None:
        """One broadcast with its counters, or None."""
        meta = await self.store.call(self.redis.hgetall(self._bc(bc_id, "meta")))
        if not meta:
            return None
        counts = {r: int(meta.get(r, 0)) for r in RESULTS}
        return Broadcast(
            bc_id,
            meta["text_zh"],
            meta["text_en"],
            meta["channel"],
            meta["lang"],
            meta["base"],
            int(meta["at"]),
            meta["status"],
            meta["creator"],
            meta["wechat_mass"] == "1",
            int(meta["total"]),
            counts,
        )

    async def image(self, bc_id: str) -> bytes | None:
        """The broadcast's image, if it has one."""
        raw = await self.store.call(self.redis.get(self._bc(bc_id, "image")))
        return base64.b64decode(raw) if raw else None

    async def recent(self, limit: int = 20) -> list[Broadcast]:
        """The latest broadcasts, newest first."""
        ids = await self.store.call(self.redis.zrevrange(self._all(), 0, limit - 1))
        return [b for b in [await self.get(i) for i in ids] if b is not None]

    async def set_status(self, bc_id: str, status: str, only_from: tuple[str, ...]) -> bool:
        """Move a broadcast to `status` if it is in one of `only_from`."""
        bc = await self.get(bc_id)
        if bc is None or bc.status not in only_from:
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._bc(bc_id, "meta"), "status", status)
        if status == "sending":
            pipe.hsetnx(self._bc(bc_id, "meta"), "started", str(int(time.time())))
        await self.store.call(pipe.execute())
        return True

    async def set_total(self, bc_id: str, total: int) -> None:
        """Record the audience size."""
        await self.store.call(self.redis.hset(self._bc(bc_id, "meta"), "total", str(total)))

    async def count(self, bc_id: str, name: str, amount: int = 1) -> None:
        """Add to a counter that is not a recipient's outcome (outside_window, say)."""
        await self.store.call(self.redis.hincrby(self._bc(bc_id, "meta"), name, amount))

    async def claim(self, bc_id: str, user_key: str) -> bool:
        """Take a recipient for sending; False if some worker took them before."""
        key = self._bc(bc_id, "state")
        return bool(await self.store.call(self.redis.hsetnx(key, user_key, "claimed")))

    async def finish(self, bc_id: str, user_key: str, result: str) -> None:
        """Record a claimed recipient's outcome: sent, failed, unreachable or outside_window."""
        keys = [self._bc(bc_id, "state"), self._bc(bc_id, "meta")]
        await self.store.call(self._finish(keys=keys, args=[user_key, result]))

    async def members(self, key: str, batch: int = 500) -> AsyncIterator[list[str]]:
        """The members of a set, a batch at a time (SSCAN), so memory stays flat."""
        cursor = 0
        while True:
            cursor, found = await self.store.call(self.redis.sscan(key, cursor, count=batch))
            if found:
                yield cast(list[str], found)
            if cursor == 0:
                return

    async def subscribed(self, user_keys: list[str]) -> list[bool]:
        """Whether each of these users is subscribed (for base audiences)."""
        pipe = self.redis.pipeline(transaction=False)
        for user_key in user_keys:
            pipe.sismember(self.subscribers(user_key.split(":", 1)[0]), user_key)
        return [bool(x) for x in await self.store.call(pipe.execute())]

    async def locales(self, user_keys: list[str]) -> list[str | None]:
        """Each user's conversation language (None when unknown)."""
        pipe = self.redis.pipeline(transaction=False)
        for user_key in user_keys:
            pipe.get(self.store.user_field(user_key, "session"))
        raw = await self.store.call(pipe.execute())
        return [self.store.locale_in(session) for session in raw]

    async def pace(self, channel: str, rate: float) -> float:
        """Seconds to wait before the next message on `channel` (0: go now)."""
        keys = [f"{self.prefix}{{pace:{channel}}}:next", f"{self.prefix}{{pace:{channel}}}:pause"]
        args = [int(time.time() * 1000), round(1000 / rate, 3)]
        wait_ms = await self.store.call(self._pace(keys=keys, args=args))
        return float(wait_ms) / 1000

    async def pause(self, channel: str, seconds: float) -> None:
        """Hold every worker's sending on a channel (Telegram's 429 retry_after)."""
        key = f"{self.prefix}{{pace:{channel}}}:pause"
        await self.store.call(self.redis.set(key, "1", px=max(1, int(seconds * 1000))))
