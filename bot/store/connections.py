"""What redis-py's async client is given beyond its defaults: commands packed by hiredis and
sent without a task of their own, a cheaper check that a pooled connection is clean, a pool that
hands out and takes back a free connection at once, and a Sentinel connection that asks Sentinel
again on every retry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
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
from redis.exceptions import TimeoutError as RedisTimeoutError


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


class LeanConnection:
    """A connection mixin that packs commands with hiredis, in C, as redis-py's sync client
    does (its async client packs them in Python, copying the growing buffer per argument), and
    arms the write's timer only when a write must wait: redis-py wraps every write in
    `asyncio.wait_for`, which on Python 3.11 starts a task per command, although a write the
    kernel takes at once cannot time out."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        return cast(list[bytes], self._packer.pack(*args))

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        """redis-py's send, its faults as redis-py raises them."""
        this = cast(AbstractConnection, self)
        if not this.is_connected:
            await this.connect_check_health(check_health=False)
        if check_health:
            await this.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        writer = cast(asyncio.StreamWriter, this._writer)
        try:
            writer.writelines([command] if isinstance(command, bytes) else command)
            if writer.transport.get_write_buffer_size():  # the kernel took less than all
                async with asyncio.timeout(this.socket_timeout):
                    await writer.drain()
            else:
                await writer.drain()  # returns at once, or raises what the connection met
        except TimeoutError:
            await this.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await this.disconnect(nowait=True)
            number, message = ("UNKNOWN", exc.args[0]) if len(exc.args) == 1 else exc.args[:2]
            raise RedisConnectionError(
                f"Error {number} while writing to socket. {message}."
            ) from exc
        except BaseException:  # a write cut short leaves the stream unusable
            await this.disconnect(nowait=True)
            raise


# each kind of connection a URL can choose (TCP, TLS, unix socket), made lean
LEAN_CONNECTIONS: dict[type[AbstractConnection], type[AbstractConnection]] = {
    base: type(f"Lean{base.__name__}", (LeanConnection, base), {})
    for base in (Connection, SSLConnection, UnixDomainSocketConnection)
}


class PromptPool(redis.BlockingConnectionPool):
    """redis-py's bounded pool, handing out a connection at once while one is free (or may
    still be opened); its lock and wait timer (armed and cancelled on every command) only once
    all are in use. Waiting is unchanged: the stock pool, too, gives a connection freed while
    others wait to whoever asks first."""

    _waiting = 0  # commands waiting for a connection

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        if not self.can_get_connection():
            self._waiting += 1
            try:
                return await super().get_connection(*args, **options)  # type: ignore[no-untyped-call]
            finally:
                self._waiting -= 1
        connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        """Back to the pool; its lock, wake-up and release event only while a command waits
        for a connection. That event's one listener re-authenticates with a streaming
        credential provider's token, which the bot never configures (a URL's password)."""
        if self._waiting:
            await super().release(connection)
            return
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        self._available_connections.append(connection)


class FollowingConnection(LeanConnection, SentinelManagedConnection):
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
