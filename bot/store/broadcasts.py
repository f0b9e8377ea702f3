"""Appeals (broadcasts): their records and per-recipient claims.

An appeal is `tp:{bc:7}:meta` (texts, audience, time, status, counters) and `tp:{bc:7}:state`
(one field per recipient: claimed, then its result); its image is a blob (`store/blobs.py`;
versions before kept it as `tp:{bc:7}:image`, base64: read until moved). A recipient is
claimed with HSETNX right before the send, so two workers never send one recipient the same
appeal. (Sending is paced by the channel's shared budget: store/pace.py.)
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import field
from enum import StrEnum
from typing import ClassVar

from bot.model import immutable
from bot.store.base import Area, call
from bot.store.keys import MASS_QUOTA_TTL
from bot.store.records import load_record

BROADCAST_VERSION = 1

# KEYS: state, meta. ARGV: recipient, claim ("claimed:WORKER"). Takes a recipient for sending
# once, and counts it as in flight. 1 if this call took it.
_CLAIM = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'inflight', 1)
return 1
"""

# KEYS: state, meta. ARGV: recipient, result, [the claim it must still be]. Records a claimed
# recipient's result once and counts it. 1 if recorded.
_FINISH = """
local claim = redis.call('HGET', KEYS[1], ARGV[1])
if not claim or string.sub(claim, 1, 7) ~= 'claimed' then return 0 end
if ARGV[3] and claim ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HINCRBY', KEYS[2], 'inflight', -1)
return 1
"""


class AudienceChannel(StrEnum):
    """Which channels an appeal goes to."""

    ALL = "all"
    TELEGRAM = "telegram"
    WECHAT = "wechat"


class AudienceLang(StrEnum):
    """Which speakers an appeal goes to."""

    ALL = "all"
    ZH = "zh"
    EN = "en"


class AudienceDuty(StrEnum):
    """Whom of the audience an appeal reaches, by the duty they have left."""

    ALL = "all"
    OPEN = "open"  # a pledge made and not yet fulfilled
    FEW = "few"  # fewer trees fulfilled this year than the duty asks (3)
    UNBOOKED = "unbooked"  # no slot booked this season (this year)


class AppealStatus(StrEnum):
    """Where an appeal stands."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Result(StrEnum):
    """What became of one recipient."""

    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"  # blocked the bot, or the platform refused them
    OUTSIDE_WINDOW = "outside_window"  # a WeChat user silent for 48 hours: not tried
    UNKNOWN = "unknown"  # the worker sending it died: it may or may not have arrived


@immutable
class Broadcast:
    """An appeal: texts, audience, when, and how far it got."""

    id: str
    text_zh: str
    text_en: str
    channel: AudienceChannel = AudienceChannel.ALL
    lang: AudienceLang = AudienceLang.ALL
    base: str = ""  # only people who pledged at this base
    duty: AudienceDuty = AudienceDuty.ALL  # only people with this duty left
    team: str = ""  # only the members of this team (its code)
    at: int = 0  # epoch seconds; 0 = now
    status: AppealStatus = AppealStatus.SCHEDULED
    creator: str = ""  # user key of the admin, "" from the command line
    wechat_mass: bool = False
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    started: int = 0  # when sending began, epoch seconds
    inflight: int = 0  # recipients claimed whose result is not recorded yet
    swept: bool = False  # some worker has gone through the whole audience
    v: int = BROADCAST_VERSION

    @property
    def done(self) -> int:
        """Recipients handled so far."""
        return sum(self.counts.get(r, 0) for r in Result)

    def text_for(self, locale: str) -> str:
        """The text in `locale`, else the other one."""
        first = self.text_en if locale == "en" else self.text_zh
        return first or self.text_zh or self.text_en


def _from_meta(bc_id: str, meta: dict[str, str]) -> Broadcast:
    values = {
        "id": bc_id,
        "text_zh": meta["text_zh"],
        "text_en": meta["text_en"],
        "channel": AudienceChannel(meta["channel"]),
        "lang": AudienceLang(meta["lang"]),
        "base": meta["base"],
        "duty": AudienceDuty(meta.get("duty", AudienceDuty.ALL)),  # older appeals: everyone
        "team": meta.get("team", ""),
        "at": int(meta["at"]),
        "status": AppealStatus(meta["status"]),
        "creator": meta["creator"],
        "wechat_mass": meta["wechat_mass"] == "1",
        "total": int(meta["total"]),
        "counts": {str(r): int(meta.get(r, 0)) for r in Result},
        "started": int(meta.get("started", 0)),
        "inflight": int(meta.get("inflight", 0)),
        "swept": meta.get("swept") == "1",
        "v": int(meta.get("v", 1)),
    }
    return load_record(Broadcast, values, BROADCAST_VERSION)


def claim(worker: str) -> str:
    """The state of a recipient a worker is sending to."""
    return f"claimed:{worker}"


class BroadcastStore(Area):
    """Appeals, recipients' states, the WeChat mass-send quota and pacing."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"claim": _CLAIM, "finish": _FINISH}

    async def next_id(self) -> str:
        """A new appeal's id."""
        return str(await call(self.redis.incr(self.keys.broadcast_counter())))

    async def create(self, bc_id: str, bc: Broadcast) -> Broadcast:
        """Store a new appeal (its image is kept already)."""
        meta = {
            "text_zh": bc.text_zh,
            "text_en": bc.text_en,
            "channel": str(bc.channel),
            "lang": str(bc.lang),
            "base": bc.base,
            "duty": str(bc.duty),
            "team": bc.team,
            "at": bc.at,
            "status": str(AppealStatus.SCHEDULED),
            "creator": bc.creator,
            "wechat_mass": int(bc.wechat_mass),
            "total": bc.total,
            "v": BROADCAST_VERSION,
        }
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.broadcast(bc_id, "meta"), mapping=meta)
        pipe.zadd(self.keys.broadcast_index(), {bc_id: bc.at or int(time.time())})
        await call(pipe.execute())
        return await self.get(bc_id) or bc

    async def get(self, bc_id: str) -> Broadcast | None:
        """One appeal with its counters, or None."""
        meta = await call(self.redis.hgetall(self.keys.broadcast(bc_id, "meta")))
        return _from_meta(bc_id, meta) if meta else None

    async def old_image(self, bc_id: str) -> bytes | None:
        """An image an older version kept in Redis, if it is still there."""
        raw = await call(self.redis.get(self.keys.broadcast(bc_id, "image")))
        return base64.b64decode(raw) if raw else None

    async def drop_old_image(self, bc_id: str) -> None:
        """The image kept in Redis is gone (moved to the blobs)."""
        await call(self.redis.delete(self.keys.broadcast(bc_id, "image")))

    async def recent(self, limit: int = 20) -> list[Broadcast]:
        """The latest appeals, newest first."""
        ids = await call(self.redis.zrevrange(self.keys.broadcast_index(), 0, limit - 1))
        return [b for b in [await self.get(i) for i in ids] if b is not None]

    async def set_status(
        self, bc_id: str, status: AppealStatus, only_from: tuple[AppealStatus, ...]
    ) -> bool:
        """Move an appeal to `status` if it is in one of `only_from`."""
        bc = await self.get(bc_id)
        if bc is None or bc.status not in only_from:
            return False
        meta = self.keys.broadcast(bc_id, "meta")
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(meta, "status", str(status))
        if status == AppealStatus.SENDING:
            pipe.hsetnx(meta, "started", str(int(time.time())))
        await call(pipe.execute())
        return True

    async def set_total(self, bc_id: str, total: int) -> None:
        """Record the audience size."""
        await call(self.redis.hset(self.keys.broadcast(bc_id, "meta"), "total", str(total)))

    def _state_keys(self, bc_id: str) -> list[str]:
        return [self.keys.broadcast(bc_id, "state"), self.keys.broadcast(bc_id, "meta")]

    async def claim(self, bc_id: str, user_key: str, worker: str) -> bool:
        """Take a recipient for sending; False if some worker took them before."""
        return bool(await self.run("claim", self._state_keys(bc_id), [user_key, claim(worker)]))

    async def finish(
        self, bc_id: str, user_key: str, result: Result, claimed_by: str | None = None
    ) -> bool:
        """Record a claimed recipient's result and count it (only if `claimed_by` that worker,
        when given); False when it was recorded before."""
        args = [user_key, str(result)] + ([claim(claimed_by)] if claimed_by is not None else [])
        return bool(await self.run("finish", self._state_keys(bc_id), args))

    async def claims(self, bc_id: str) -> AsyncIterator[tuple[str, str]]:
        """Recipients claimed and not finished, with the worker that claimed each ("" for a
        claim an older version made), read in batches (HSCAN)."""
        key = self.keys.broadcast(bc_id, "state")
        async for recipient, state in self.redis.hscan_iter(key, match="*", count=500):
            if state.startswith("claimed"):
                yield recipient, state.removeprefix("claimed").removeprefix(":")

    async def mark_swept(self, bc_id: str) -> None:
        """Some worker has gone through the whole audience."""
        await call(self.redis.hset(self.keys.broadcast(bc_id, "meta"), "swept", "1"))

    async def beat(self, worker: str, ttl_s: int) -> None:
        """The worker is alive (for `ttl_s` more seconds)."""
        await call(self.redis.set(self.keys.worker(worker), "1", ex=ttl_s))

    async def alive(self, workers: list[str]) -> list[bool]:
        """Whether each worker has beaten lately."""
        if not workers:
            return []
        found = await call(self.redis.mget([self.keys.worker(w) for w in workers]))
        return [value is not None for value in found]

    async def take_mass_quota(self, month: str, limit: int) -> bool:
        """Use one of the month's WeChat mass sends; False when `limit` are used."""
        key = self.keys.mass_quota(month)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, MASS_QUOTA_TTL)
        used, _ = await call(pipe.execute())
        return int(used) <= limit
