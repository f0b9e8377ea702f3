"""What redis-py's async client is given beyond its defaults: commands packed by hiredis, a
cheaper check that a pooled connection is clean, a pool that hands out a free connection at
once, and a Sentinel connection that asks Sentinel again on every retry."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as redis
from redis._parsers import _AsyncHiredisParser
from redis._parsers.socket import SERVER_CLOSED_CONNECTION_ERROR
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.sentinel import SentinelManagedConnection
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError


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
        return cast(list[bytes], self._packer.pack(*args))


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
