"""Everything the bot keeps, in Redis. Nothing else talks to Redis.

`Store` holds the client and the key builder (`keys.py`) and one typed store per area: turns,
users, pledges, slots, jobs, broadcasts, payments, claims, admins, send budgets, pictures'
platform ids, teams. The one exception is wechatpy's token storage (`wechat_token.py`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from typing import cast

import redis.asyncio as redis
from redis.exceptions import RedisError

from bot.store.admins import AdminStore
from bot.store.base import call, connect
from bot.store.broadcasts import BroadcastStore
from bot.store.claims import ClaimStore
from bot.store.jobs import JobStore
from bot.store.keys import Keys
from bot.store.media import MediaStore
from bot.store.migration import MigrationStore
from bot.store.pace import PaceStore
from bot.store.payments import PaymentStore
from bot.store.pledges import PledgeStore
from bot.store.slots import SlotStore
from bot.store.teams import TeamStore
from bot.store.turns import TurnStore
from bot.store.users import UserStore

__all__ = ["Store", "connect"]
DELETE_BATCH = 500
PING_WITHIN_S = 1.0  # a health check answers within this, whatever Redis does


class Store:
    """The bot's Redis: one client, one key builder, a typed store per area."""

    def __init__(self, client: redis.Redis, prefix: str = "tp:", url: str = "") -> None:
        self.redis = client
        self.url = url  # where it is (REDIS_URL, or the embedded server's), when known
        self.keys = Keys(prefix)
        self.turns = TurnStore(client, self.keys)
        self.users = UserStore(client, self.keys)
        self.pledges = PledgeStore(client, self.keys)
        self.slots = SlotStore(client, self.keys)
        self.jobs = JobStore(client, self.keys)
        self.broadcasts = BroadcastStore(client, self.keys)
        self.payments = PaymentStore(client, self.keys)
        self.claims = ClaimStore(client, self.keys)
        self.admins = AdminStore(client, self.keys)
        self.paces = PaceStore(client, self.keys)
        self.media = MediaStore(client, self.keys)
        self.teams = TeamStore(client, self.keys)
        self.migration = MigrationStore(client, self.keys)

    @property
    def prefix(self) -> str:
        """The prefix of every key of this store."""
        return self.keys.prefix

    async def shared_secret(self) -> str:
        """The generated BOT_SECRET, made once and kept (used only when none is configured)."""
        key = self.keys.secret()
        await call(self.redis.set(key, secrets.token_urlsafe(32), nx=True))
        return cast(str, await call(self.redis.get(key)))

    async def ping(self, within_s: float = PING_WITHIN_S) -> bool:
        """True when Redis answers within `within_s`."""
        try:
            async with asyncio.timeout(within_s):
                return bool(await cast(Awaitable[bool], self.redis.ping()))
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        """Close the client and its pool (and, through Sentinel, the clients of the
        Sentinels)."""
        await self.redis.aclose()
        pool = getattr(self.redis, "connection_pool", None)  # a cluster client has none
        watch = getattr(pool, "sentinel_manager", None)
        for sentinel in getattr(watch, "sentinels", ()):
            await sentinel.aclose()

    async def delete_prefix(self) -> None:
        """Remove every key under this store's prefix (SCAN+DEL; for tests and teardown)."""
        batch: list[str] = []
        async for key in self.redis.scan_iter(match=self.keys.pattern(), count=DELETE_BATCH):
            batch.append(key)
            if len(batch) >= DELETE_BATCH:
                await self.redis.delete(*batch)
                batch.clear()
        if batch:
            await self.redis.delete(*batch)
