"""The Redis client and what every area of the store shares: its keys and one way to call."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

import redis.asyncio as redis
from redis._parsers import _AsyncHiredisParser
from redis._parsers.socket import SERVER_CLOSED_CONNECTION_ERROR
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import ExponentialBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from bot.errors import StoreError
from bot.store.keys import Keys

MAX_CONNECTIONS = 64
CLUSTER_CONNECTIONS = 1024  # per node: the cluster client fails, not waits, past its bound
DEFAULT_TIMEOUT_S = 2.0
T = TypeVar("T")


class ReadyCheckParser(_AsyncHiredisParser):
    """hiredis's parser, whose check that a pooled connection is clean (done before every
    command) looks at what has already arrived, instead of a read with a zero timeout: that
    read cost a timer and a cancelled wait per command. redis-py 8 does the same (its PR
    4063); we stay on 7.0 for the cluster bug noted in pyproject.toml."""

    async def can_read_destructive(self) -> bool:
        stream, reader = self._stream, cast(Any, self._reader)
        if not self._connected or stream is None or reader is None:
            raise RedisConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        # asyncio.StreamReader cannot be peeked at publicly; redis-py 8 reads _buffer too
        return bool(reader.has_data() or stream.at_eof() or cast(Any, stream)._buffer)


class HiredisPacking:
    """A connection mixin that packs commands with hiredis, in C, as redis-py's sync client
    does; its async client packs them in Python, copying the growing buffer per argument."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


# each kind of connection a URL can choose (TCP, TLS, unix socket), packing with hiredis
HIREDIS_PACKING: dict[type[AbstractConnection], type[AbstractConnection]] = {
    base: type(f"Hiredis{base.__name__}", (HiredisPacking, base), {})
    for base in (Connection, SSLConnection, UnixDomainSocketConnection)
}


class PromptPool(redis.BlockingConnectionPool):
    """redis-py's bounded pool, handing out a connection at once while one is free (or may
    still be opened); its lock and wait timer (armed and cancelled on every command) only once
    all are in use. Waiting is unchanged: the stock pool, too, gives a connection freed while
    others wait to whoever asks first."""

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        if not self.can_get_connection():
            return await super().get_connection(*args, **options)  # type: ignore[no-untyped-call]
        connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection


class FollowingConnection(HiredisPacking, SentinelManagedConnection):
    """A connection to the master Sentinel names that asks Sentinel again on every retry.
    redis-py's own retries reconnect to the address it had (redis-py issue 3874), so after a
    failover they would keep knocking at the old master."""

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if retry_socket_connect and not self.is_connected:
            await self.connect()  # type: ignore[no-untyped-call]  # resolves the master afresh
            return
        await super().connect_check_health(check_health, retry_socket_connect)


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
            master, connection_class=FollowingConnection, parser_class=ReadyCheckParser, **limits
        )
        return cast(redis.Redis, client)
    pool = PromptPool.from_url(
        url, timeout=timeout, health_check_interval=30, parser_class=ReadyCheckParser, **limits
    )
    pool.connection_class = HIREDIS_PACKING[pool.connection_class]
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
