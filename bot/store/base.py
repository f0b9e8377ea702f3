"""The Redis client and what every area of the store shares: its keys and one way to call."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from bot.errors import StoreError
from bot.store.keys import Keys

MAX_CONNECTIONS = 64
DEFAULT_TIMEOUT_S = 2.0
T = TypeVar("T")


def connect(url: str, cluster: bool = False, timeout: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """A client with a bounded pool. A refused connection (Redis restarting) is retried
    briefly; a command that gets no answer within `timeout` (Redis frozen) fails at once, so
    nothing waits longer than that for a stuck server."""
    retry = Retry(
        ExponentialBackoff(cap=1.0, base=0.05),
        retries=8,
        supported_errors=(RedisConnectionError,),  # not timeouts
    )
    limits: dict[str, Any] = {
        "decode_responses": True,
        "max_connections": MAX_CONNECTIONS,
        "retry": retry,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if cluster:
        return cast(redis.Redis, RedisCluster.from_url(url, **limits))
    pool = redis.BlockingConnectionPool.from_url(
        url, timeout=timeout, health_check_interval=30, **limits
    )
    return redis.Redis.from_pool(pool)  # the client owns the pool and closes it


async def call(pending: Awaitable[T] | Any) -> Any:
    """Await a Redis command; Redis faults become StoreError."""
    try:
        return await pending
    except RedisError as exc:
        raise StoreError(f"Redis failed: {exc}") from exc


class Area:
    """One area of the store (turns, users, slots...): the client, the key builder, and the
    area's Lua scripts by name (registered once, sent by hash)."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._scripts = {name: client.register_script(lua) for name, lua in self.SCRIPTS.items()}

    async def run(
        self, script: str, keys: list[str], args: Sequence[str | int | float] = ()
    ) -> Any:
        """Run one of the area's scripts; Redis faults become StoreError."""
        return await call(self._scripts[script](keys=keys, args=list(args)))
