"""What redis-py's async client is given beyond its defaults: commands packed by hiredis and
sent without a task of their own, answers awaited without a timer of their own, a cheaper check
that a pooled connection is clean, a pool that hands out and takes back a free connection at
once, and a Sentinel connection that asks Sentinel again on every retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

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
        return self.has_unread()

    def has_unread(self) -> bool:
        """Whether something came that no command asked for, or the server closed."""
        stream, reader = self._stream, cast(Any, self._reader)
        if not self._connected or stream is None or reader is None:
            raise RedisConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        # asyncio.StreamReader cannot be peeked at publicly; redis-py 8 reads _buffer too
        return bool(reader.has_data() or stream.at_eof() or cast(Any, stream)._buffer)


if TYPE_CHECKING:  # what the mixin below is mixed into, as the type checker sees it
    _Connection = AbstractConnection
else:
    _Connection = object


class LeanConnection(_Connection):
    """A connection mixin that packs commands with hiredis, in C, as redis-py's sync client
    does (its async client packs them in Python, copying the growing buffer per argument), and
    arms no timer per command. redis-py wraps every write in `asyncio.wait_for`, which on
    Python 3.11 starts a task per command, and every read in `asyncio.timeout`, a timer armed
    and cancelled per answer (about 4 µs on uvloop). Here a write is waited on only when the
    kernel could not take the whole command at once, and then timed (a write it takes cannot
    time out; one on a connection the server closed fails at once). Reads share one watchdog
    per connection, armed by the first read and again only while reads go on: an answer that
    has not come `socket_timeout` seconds after its read began fails as redis-py's own timeout
    fails it (the connection dropped, TimeoutError raised)."""

    _packer = HiredisRespSerializer()
    answer_timeout: float | None = None  # redis-py's socket_timeout, kept by the watchdog
    _read_since: float | None = None  # when the read in progress began (time.monotonic)
    _watchdog: asyncio.TimerHandle | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # redis-py times a read itself whenever socket_timeout is set: the watchdog does it
        self.answer_timeout, self.socket_timeout = self.socket_timeout, None

    def pack_command(self, *args: Any) -> list[bytes]:
        return cast("list[bytes]", self._packer.pack(*args))

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - redis-py's signature
        *,
        disconnect_on_error: float | None = True,  # as redis-py's Sentinel connection types it
        push_request: bool | None = False,
    ) -> Any:
        """redis-py's read (a `timeout` given times it as redis-py does), watched."""
        if timeout is None and self.answer_timeout:
            self._read_since = time.monotonic()
            if self._watchdog is None:
                self._watch_in(self.answer_timeout)
        try:
            return await super().read_response(
                disable_decoding,
                timeout,
                disconnect_on_error=bool(disconnect_on_error),
                push_request=push_request,
            )
        finally:
            self._read_since = None

    def _watch(self) -> None:
        """Fail a read waiting past its time; look again when the read in progress is due,
        or not at all while none is (the next read arms the watchdog)."""
        self._watchdog, since = None, self._read_since
        if since is None or not self.answer_timeout:
            return
        left = since + self.answer_timeout - time.monotonic()
        stream = self._reader
        if left > 0:
            self._watch_in(left)
        elif stream is not None and cast(Any, stream)._waiter is not None:
            # a read still waiting for data (not one whose data came in this very pass):
            # it raises TimeoutError where it waits, as under asyncio.timeout
            stream.set_exception(TimeoutError())

    def _watch_in(self, seconds: float) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(seconds, self._watch)

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        """redis-py's send, its faults as redis-py raises them."""
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if (  # redis-py's condition, without a coroutine while no check is due
            check_health
            and self.health_check_interval
            and asyncio.get_running_loop().time() > self.next_health_check
        ):
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        writer = cast(asyncio.StreamWriter, self._writer)  # connected above
        try:
            if writer.transport.is_closing():  # the server closed it (uvloop refuses a write)
                raise ConnectionResetError("Connection lost")
            writer.writelines([command] if isinstance(command, bytes) else command)
            if writer.transport.get_write_buffer_size():  # the kernel took less than all
                async with asyncio.timeout(self.answer_timeout):
                    await writer.drain()
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            number, message = ("UNKNOWN", exc.args[0]) if len(exc.args) == 1 else exc.args[:2]
            raise RedisConnectionError(
                f"Error {number} while writing to socket. {message}."
            ) from exc
        except BaseException:  # a write cut short leaves the stream unusable
            await self.disconnect(nowait=True)
            raise


# each kind of connection a URL can choose (TCP, TLS, unix socket), made lean
LEAN_CONNECTIONS: dict[type[AbstractConnection], type[AbstractConnection]] = {
    base: type(f"Lean{base.__name__}", (LeanConnection, base), {})
    for base in (Connection, SSLConnection, UnixDomainSocketConnection)
}


def _clean(connection: AbstractConnection) -> bool:
    """A connection that is open with nothing unread: ready to send, as redis-py's pool checks
    before handing one out (here without a coroutine)."""
    parser = connection._parser
    return (
        connection.is_connected
        and isinstance(parser, ReadyCheckParser)
        and parser._connected
        and not parser.has_unread()
    )


class PromptPool(redis.BlockingConnectionPool):
    """redis-py's bounded pool, handing out a connection at once while one is free (or may
    still be opened), checked clean without a coroutine; its lock and wait timer (armed and
    cancelled on every command) only once all are in use. Waiting is unchanged: the stock
    pool, too, gives a connection freed while others wait to whoever asks first."""

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
            if not _clean(connection):  # redis-py's check and reconnection
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


class LeanRedis(redis.Redis):
    """redis-py's client, whose commands without options (every script the store runs, and
    most commands: a `keys` hint aside) go out and come back in one coroutine, under the
    connection's retry as in redis-py, instead of the five passes redis-py takes them through
    (initialise, the retried call, send, parse, read): about 2 µs less per command. Options
    (decoding turned off, an answer for an error) take redis-py's own path."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if (options and options.keys() != {"keys"}) or self.single_connection_client:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        pool = self.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            return await connection.retry.call_with_retry(
                lambda: self._exchange(connection, args),
                lambda _: connection.disconnect(),
            )
        finally:
            await pool.release(connection)

    async def _exchange(self, connection: AbstractConnection, args: tuple[Any, ...]) -> Any:
        """Send one command and read its answer, parsed as redis-py parses it."""
        await connection.send_packed_command(connection.pack_command(*args))
        answer = await connection.read_response()
        parse = self.response_callbacks.get(args[0])
        return parse(answer) if parse is not None else answer


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
