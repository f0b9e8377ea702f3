"""The Redis client and what every area of the store shares: its keys and one way to call."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from bot.errors import StoreError
from bot.store.connections import (
    LEAN_CONNECTIONS,
    FollowingConnection,
    LeanRedis,
    PromptPool,
    ReadyCheckParser,
)
from bot.store.keys import Keys

MAX_CONNECTIONS = 64
CLUSTER_CONNECTIONS = 1024  # per node: the cluster client fails, not waits, past its bound
DEFAULT_TIMEOUT_S = 2.0
T = TypeVar("T")


def connect(
    url: str,
    cluster: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    sentinels: Sequence[tuple[str, int]] = (),
    master: str = "mymaster",
    decode: bool = True,
) -> redis.Redis:
    """A client with a bounded pool: to `url`, to a cluster `url` is a node of, or to the
    master `sentinels` name. A refused connection (Redis restarting, a failover) is retried
    briefly; a command that gets no answer within `timeout` (Redis frozen) fails at once, so
    nothing waits longer than that for a stuck server. `decode=False` answers bytes (backups
    copy values that are not text, such as HyperLogLogs and photos)."""
    retry = Retry(
        ExponentialBackoff(cap=1.0, base=0.05),
        retries=8,
        supported_errors=(RedisConnectionError,),  # not timeouts
    )
    limits: dict[str, Any] = {
        "decode_responses": decode,
        "max_connections": MAX_CONNECTIONS,
        "retry": retry,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if cluster:  # its pools do not wait for a free connection: a bigger bound per node
        nodes = limits | {"max_connections": CLUSTER_CONNECTIONS}
        return cast(redis.Redis, RedisCluster.from_url(url, **nodes))
    if sentinels:
        watch = Sentinel(  # type: ignore[no-untyped-call]
            list(sentinels), socket_timeout=timeout, socket_connect_timeout=timeout
        )
        client = watch.master_for(
            master,
            redis_class=LeanRedis,
            connection_class=FollowingConnection,
            parser_class=ReadyCheckParser,
            **limits,
        )
        return cast(redis.Redis, client)
    pool = PromptPool.from_url(
        url, timeout=timeout, health_check_interval=30, parser_class=ReadyCheckParser, **limits
    )
    pool.connection_class = LEAN_CONNECTIONS[pool.connection_class]
    return LeanRedis.from_pool(pool)  # the client owns the pool and closes it


def failed(exc: RedisError) -> StoreError:
    """A Redis fault as the store raises it."""
    return StoreError(f"Redis failed: {exc}")


async def call(pending: Awaitable[T] | Any) -> Any:
    """Await a Redis command; Redis faults become StoreError."""
    try:
        return await pending
    except RedisError as exc:
        raise failed(exc) from exc


class Area:
    """One area of the store (turns, users, slots...): the client, the key builder, and the
    area's Lua scripts by name (registered once, sent by hash)."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys
        self._scripts = {name: client.register_script(lua) for name, lua in self.SCRIPTS.items()}

    async def run(
        self, script: str, keys: list[str], args: Sequence[str | bytes | int | float] = ()
    ) -> Any:
        """Run one of the area's scripts by hash, loaded again where Redis has lost it (a
        restart, a failover), as redis-py's script objects do (they also check for a pipeline
        on every call); Redis faults become StoreError."""
        lua, given = self._scripts[script], (*keys, *args)
        try:
            try:
                return await cast("Awaitable[Any]", self.redis.evalsha(lua.sha, len(keys), *given))
            except NoScriptError:
                await cast(Awaitable[str], self.redis.script_load(lua.script))  # its SHA-1 again
                return await cast("Awaitable[Any]", self.redis.evalsha(lua.sha, len(keys), *given))
        except RedisError as exc:  # as `call` does, without a coroutine of its own
            raise failed(exc) from exc
