"""The lock that lets one process at a time fetch WeChat's access token (and JS-SDK ticket).

wechatpy is blocking and runs on threads, so this one part of the store is synchronous. The
token itself lives in wechatpy's RedisStorage under `Keys.wechat_token_prefix()`: the one
place a library of ours writes to Redis on its own.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import cast

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from bot.store.keys import WECHAT_TOKEN_LOCK_MS

POLL_S = 0.05


class TokenLock:
    """A Redis lock with a TTL, taken while fetching a new token."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.redis = client
        self.key = key

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock; after WECHAT_TOKEN_LOCK_MS of waiting, go ahead anyway (the holder
        died, and its lock expires about now)."""
        me = secrets.token_hex(8)
        deadline = time.monotonic() + WECHAT_TOKEN_LOCK_MS / 1000
        while not self.redis.set(self.key, me, nx=True, px=WECHAT_TOKEN_LOCK_MS):
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        try:
            yield
        finally:
            if self.redis.get(self.key) in (me, me.encode()):
                self.redis.delete(self.key)


def connect_sync(
    url: str,
    cluster: bool = False,
    sentinels: Sequence[tuple[str, int]] = (),
    master: str = "mymaster",
) -> redis.Redis:
    """A blocking client for wechatpy's threads (its token storage and the lock)."""
    if cluster:
        return cast(redis.Redis, RedisCluster.from_url(url))  # type: ignore[no-untyped-call]
    if sentinels:
        watch = Sentinel(list(sentinels))  # type: ignore[no-untyped-call]
        return cast(redis.Redis, watch.master_for(master))  # type: ignore[no-untyped-call]
    return redis.Redis.from_url(url)
