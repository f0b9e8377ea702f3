"""The store against real Redis: one round trip per turn edge, TTLs, idempotency, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from redis._parsers import _AsyncHiredisParser
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    DefaultParser,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.catalog import load_catalog
from bot.config import Settings
from bot.errors import BusyError, StoreError
from bot.model import UserKey
from bot.ops.embedded import EmbeddedRedis
from bot.runtime import build_runtime
from bot.store import Store, connect
from bot.store.connections import (
    LEAN_CONNECTIONS,
    FollowingConnection,
    LeanConnection,
    LeanRedis,
    PromptPool,
    ReadyCheckParser,
)
from bot.store.keys import KNOWN_TTL, LOCK_TTL_MS, SEEN_TTL, SESSION_TTL
from bot.store.turns import _END, Ended
from tests.kit.chat import Chat
from tests.kit.fulfil import pay


async def test_replies_are_parsed_by_hiredis(redis_url: str) -> None:
    """hiredis is installed with redis-py (redis[hiredis]), so every client reads replies
    with its C parser (bot.store.connect's ReadyCheckParser is that parser too)."""
    assert DefaultParser is _AsyncHiredisParser
    client = connect(redis_url)
    try:
        async with client.client() as one:  # a connection of the pool
            assert await one.ping()
            assert isinstance(one.connection._parser, _AsyncHiredisParser)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:1/0", Connection),
        ("rediss://127.0.0.1:1/0", SSLConnection),
        ("unix:///nowhere/redis.sock", UnixDomainSocketConnection),
    ],
)
async def test_every_kind_of_connection_packs_with_hiredis(url: str, kind: type) -> None:
    """The kind of connection the URL chooses (TCP, TLS, the embedded server's unix socket)
    is kept, packing with hiredis."""
    client = connect(url)
    try:
        chosen = client.connection_pool.connection_class
        assert issubclass(chosen, kind) and issubclass(chosen, LeanConnection)
    finally:
        await client.aclose()


async def test_sentinels_connections_pack_with_hiredis_and_check_cheaply() -> None:
    """Behind Sentinel, the connections follow the master, pack with hiredis and use the
    readiness check that does not wait (nothing is connected to build the client)."""
    client = connect("redis://127.0.0.1:1/0", sentinels=[("127.0.0.1", 1)])
    try:
        pool = client.connection_pool
        assert issubclass(pool.connection_class, FollowingConnection)
        assert issubclass(pool.connection_class, LeanConnection)
        assert pool.connection_kwargs["parser_class"] is ReadyCheckParser
        assert isinstance(client, LeanRedis)
    finally:
        await client.aclose()


async def test_plain_commands_skip_redis_pys_passes_and_answer_as_it_does(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command without options goes out and back in one coroutine, its answer parsed by
    redis-py's callbacks (a SET's OK is True, HGETALL's pairs a dict, a script's list as
    is); one with options (DUMP reads bytes on a decoding client) takes redis-py's path."""
    parsed: list[str] = []
    stock_parse = LeanRedis.parse_response

    async def parse(self: LeanRedis, connection: Any, command: str, **options: Any) -> Any:
        parsed.append(command)
        return await stock_parse(self, connection, command, **options)

    monkeypatch.setattr(LeanRedis, "parse_response", parse)
    client = connect(redis_url)
    key, table = "{lean}:k", "{lean}:h"  # one slot: a cluster's node deletes both at once
    try:
        assert await client.set(key, "v") is True
        await client.hset(table, mapping={"a": "1", "b": "2"})
        assert await client.hgetall(table) == {"a": "1", "b": "2"}
        assert await client.eval("return {1, 'x'}", 0) == [1, "x"]
        assert await client.get(key) == "v"  # sent with a `keys` hint: still one pass
        assert parsed == []
        assert isinstance(await client.dump(key), bytes)
        assert parsed == ["DUMP"]
    finally:
        try:
            await client.delete(key, table)
        finally:
            await client.aclose()


async def test_hiredis_packs_commands_byte_for_byte_as_redis_py(redis_url: str) -> None:
    """What hiredis packs is what redis-py's own Python packer sends, for every kind of
    argument the store passes; and the server takes it."""
    args = ("金匮 ✓🌳 \u0000 é", b"\x00\xff", 3, -7, 2.5, 0.1, 1e-7, 10**20, "x" * 70_000)
    client = connect(redis_url, decode=False)
    try:
        async with client.client() as one:
            assert isinstance(one.connection, LeanConnection)
            for arg in args:
                ours = b"".join(one.connection.pack_command("ECHO", arg))
                python = b"".join(AbstractConnection.pack_command(one.connection, "ECHO", arg))
                assert ours == python
                sent = arg.encode() if isinstance(arg, str) else arg
                assert await one.echo(arg) == (sent if isinstance(sent, bytes) else b"%r" % arg)
    finally:
        await client.aclose()


async def test_a_pooled_connection_with_unread_data_is_replaced(redis_url: str) -> None:
    """A connection back in the pool with an answer nobody read (a command cut short) is not
    handed out as it is: the next command gets its own answer, not the stale one."""
    client = connect(redis_url)
    pool = client.connection_pool
    try:
        assert await client.ping()
        connection = await pool.get_connection()
        await connection.send_command("ECHO", "stale")
        for _ in range(200):  # until the stale answer has arrived
            if await connection.can_read_destructive():
                break
            await asyncio.sleep(0.01)
        await pool.release(connection)
        assert await client.echo("fresh") == "fresh"
    finally:
        await client.aclose()


async def test_a_clean_connection_is_handed_out_without_redis_pys_checks(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open connection with nothing unread goes out as it is; redis-py's checking and
    reconnecting (five coroutines deep) runs only for one that is closed or not clean."""
    checked: list[AbstractConnection] = []
    stock_ensure = PromptPool.ensure_connection

    async def ensure(self: PromptPool, connection: AbstractConnection) -> None:
        checked.append(connection)
        await stock_ensure(self, connection)

    monkeypatch.setattr(PromptPool, "ensure_connection", ensure)
    client = connect(redis_url)
    pool = client.connection_pool
    try:
        assert await client.ping() and len(checked) == 1  # a new connection: opened
        for _ in range(3):
            assert await client.ping()
        assert len(checked) == 1
        connection = await pool.get_connection()
        await connection.disconnect()
        await pool.release(connection)
        assert await client.echo("again") == "again" and len(checked) == 2  # reopened
    finally:
        await client.aclose()


async def test_the_readiness_check_answers_without_waiting(redis_url: str) -> None:
    """The pool's check before each command looks at what has arrived and returns at once
    (redis-py 7.0's own check waits on a zero-timeout read: a timer and a cancelled wait)."""
    client = connect(redis_url)
    pool = client.connection_pool
    try:
        assert await client.ping()
        connection = await pool.get_connection()
        try:
            check = connection.can_read_destructive()
            try:
                with pytest.raises(StopIteration) as done:
                    check.send(None)  # a coroutine that awaits anything yields here
            finally:
                check.close()  # when it did yield, nothing is left waiting
            assert done.value.value is False
        finally:
            await pool.release(connection)
    finally:
        await client.aclose()


async def test_a_free_connection_is_handed_out_without_the_pool_lock(redis_url: str) -> None:
    """While a connection is free, taking it costs neither the pool's lock nor its wait
    timer: it is handed out even while the lock is held."""
    client = connect(redis_url)
    pool = client.connection_pool
    try:
        assert isinstance(pool, PromptPool) and await client.ping()
        async with pool._condition:  # what redis-py's own pool would wait on
            connection = await asyncio.wait_for(pool.get_connection(), 1)
        await pool.release(connection)
    finally:
        await client.aclose()


async def test_a_command_starts_no_task_of_its_own(redis_url: str) -> None:
    """A command's write is not wrapped in a task (redis-py's `wait_for` starts one per
    command on Python 3.11): commands start no task running redis-py's code (the loop is
    shared with other tests, whose tasks are not counted)."""
    client = connect(redis_url)
    loop = asyncio.get_running_loop()
    started: list[str] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> asyncio.Task[Any]:
        code = getattr(coro, "cr_code", None)
        if code is not None and "redis" in Path(code.co_filename).parts:
            started.append(code.co_qualname)
        return asyncio.Task(coro, loop=loop, **options)

    try:
        assert await client.ping()
        loop.set_task_factory(counting)
        for n in range(20):
            await client.set("task-free", n)
        assert await client.get("task-free") == "19"
        assert started == []
    finally:
        loop.set_task_factory(None)
        await client.delete("task-free")
        await client.aclose()


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def lean_connection_to(serve: Serve, timeout_s: float) -> AsyncIterator[AbstractConnection]:
    """A lean connection, with `timeout_s`, to a server on 127.0.0.1 that `serve` handles; it
    says no hello (these servers know no Redis but what each test makes them answer)."""
    accepted: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await serve(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = LEAN_CONNECTIONS[Connection](
        host="127.0.0.1", port=port, socket_timeout=timeout_s, lib_name=None, lib_version=None
    )
    try:
        await connection.connect()
        yield connection
    finally:
        await connection.disconnect()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_write_redis_does_not_take_times_out() -> None:
    """A server that accepts but never reads (frozen): a write too big for the socket's
    buffers waits for it only as long as the client's timeout, then fails and the connection
    is dropped."""

    async def frozen(_: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
        return

    async with lean_connection_to(frozen, 0.3) as connection:
        with pytest.raises(RedisTimeoutError, match="Timeout writing"):
            await asyncio.wait_for(connection.send_command("SET", "k", "x" * 32_000_000), 5)
        assert not connection.is_connected


def answering_after(delay_s: float | None) -> contextlib.AbstractAsyncContextManager[Any]:
    """A lean connection (timeout 0.3 s) to a server that answers each PING `delay_s` after
    it came, or never (None)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):
            if delay_s is not None:
                await asyncio.sleep(delay_s)
                writer.write(b"+PONG\r\n")

    return lean_connection_to(serve, 0.3)


async def test_a_write_on_a_lost_connection_fails_as_a_connection_error() -> None:
    """A write the kernel takes is not waited on, but one on a connection the server closed
    still fails (redis-py's ConnectionError, which the client's retry reconnects on)."""

    async def close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with lean_connection_to(close, 1) as connection:
        transport = cast(asyncio.StreamWriter, connection._writer).transport
        for _ in range(250):  # until the server's reset has closed our side
            if transport.is_closing():
                break
            with contextlib.suppress(RedisConnectionError):
                await connection.send_command("PING")  # goes out: the server resets
            await asyncio.sleep(0.02)
        assert transport.is_closing()
        with pytest.raises(RedisConnectionError, match="Connection lost"):
            await connection.send_command("PING")
        assert not connection.is_connected


async def test_an_answer_redis_does_not_give_times_out() -> None:
    """Reads share one watchdog per connection instead of a timer each: an answer that does
    not come within the client's timeout fails as redis-py fails it, the connection dropped."""
    async with answering_after(None) as connection:
        await connection.send_command("PING")
        begin = time.monotonic()
        with pytest.raises(RedisTimeoutError, match="Timeout reading"):
            await asyncio.wait_for(connection.read_response(), 5)
        assert 0.25 < time.monotonic() - begin < 2
        assert not connection.is_connected


async def test_slow_answers_in_time_and_idle_pauses_do_not_time_out() -> None:
    """Answers each taking most of the timeout, back to back, all arrive (the watchdog looks
    again when the read in progress is due), and so do answers after pauses longer than the
    timeout (the watchdog found no read and stood down)."""
    async with answering_after(0.2) as connection:
        for _ in range(4):
            await connection.send_command("PING")
            assert await connection.read_response() == b"PONG"
        await asyncio.sleep(0.5)
        await connection.send_command("PING")
        assert await connection.read_response() == b"PONG"
        assert connection.is_connected


async def test_a_connection_goes_back_without_the_pool_lock(redis_url: str) -> None:
    """While no command waits for a connection, giving one back takes neither the pool's
    lock nor its wake-up: it returns even while the lock is held, and is handed out again."""
    client = connect(redis_url)
    pool = client.connection_pool
    try:
        assert isinstance(pool, PromptPool)
        connection = await pool.get_connection()
        async with pool._condition:
            await asyncio.wait_for(pool.release(connection), 1)
        assert await pool.get_connection() is connection
        await pool.release(connection)
    finally:
        await client.aclose()


async def test_the_pool_still_bounds_its_connections_and_waits(redis_url: str) -> None:
    """With every connection in use, a command waits for one to be freed, and gives up after
    the pool's timeout."""
    pool = PromptPool.from_url(redis_url, max_connections=1, timeout=0.3)
    try:
        first = await pool.get_connection()
        second = asyncio.ensure_future(pool.get_connection())
        await asyncio.sleep(0.05)
        assert not second.done()
        await pool.release(first)
        assert await asyncio.wait_for(second, 1) is first
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await pool.get_connection()
        await pool.release(first)
    finally:
        await pool.disconnect()


async def test_a_wechat_follower_arrives_in_one_round_trip(store: Store) -> None:
    """A follower's message marks them active for the 48 hours, says whether they are new
    (once within the known mark's TTL) and hands back a reply kept for a retried message: one
    round trip (a script on one server, a pipeline on a cluster)."""
    user = UserKey.of("wechat", "o-arrive")
    assert await store.users.arrive("o-arrive", 1_000, "m1") == (True, None)
    assert await store.users.arrive("o-arrive", 2_000) == (False, None)
    await store.turns.cache_reply(user, "m1", "<xml>kept</xml>")
    assert await store.users.arrive("o-arrive", 3_000, "m1") == (False, "<xml>kept</xml>")
    assert await store.users.active_since(["o-arrive", "o-other"], 2_500) == [True, False]
    assert 0 < await store.redis.ttl(store.keys.known(user)) <= KNOWN_TTL


async def test_turn_saves_marks_and_unlocks_with_ttls(store: Store) -> None:
    lease = await store.turns.begin_turn("t:1", "m1")
    assert lease is not None and lease.session is None
    lock = f"{store.prefix}{{u:t:1}}:lock"
    assert 0 < await store.redis.pttl(lock) <= LOCK_TTL_MS
    assert await store.turns.end_turn(lease, '{"v":1}')
    assert not await store.redis.exists(lock)
    assert (
        SESSION_TTL - 5 < await store.redis.ttl(f"{store.prefix}{{u:t:1}}:session") <= SESSION_TTL
    )
    assert SEEN_TTL - 5 < await store.redis.ttl(f"{store.prefix}{{u:t:1}}:seen:m1") <= SEEN_TTL
    assert await store.turns.begin_turn("t:1", "m1") is None  # seen before
    again = await store.turns.begin_turn("t:1", "m2")
    assert again is not None and again.session == '{"v":1}'
    await store.turns.release(again)


async def test_scripts_redis_has_lost_are_loaded_again(store: Store) -> None:
    """Scripts are sent by hash; after SCRIPT FLUSH (as after a restart or a failover) the
    next call loads its script again and runs."""
    lease = await store.turns.begin_turn("t:flush", "m1")
    assert lease is not None
    await store.redis.script_flush()
    assert await store.turns.end_turn(lease, '{"v":1}') == Ended.SAVED
    assert await store.turns.begin_turn("t:flush", "m1") is None  # marked seen by that save
    sha = hashlib.sha1(_END.encode()).hexdigest()  # noqa: S324 - how Redis names a script
    assert await store.redis.script_exists(sha) == [True]


async def test_a_redis_fault_in_a_script_is_a_store_error(store: Store) -> None:
    await store.redis.set(f"{store.prefix}{{u:t:wrong}}:notes", "not a list")
    with pytest.raises(StoreError, match="WRONGTYPE"):
        await store.turns.begin_turn("t:wrong", "m1")


async def test_a_failed_turn_leaves_the_message_unseen(store: Store) -> None:
    lease = await store.turns.begin_turn("t:2", "m1")
    assert lease is not None
    await store.turns.release(lease)
    retry = await store.turns.begin_turn("t:2", "m1")
    assert retry is not None
    await store.turns.release(retry)


async def test_a_second_turn_waits_for_the_lock(store: Store) -> None:
    lease = await store.turns.begin_turn("t:3", None)
    assert lease is not None
    waiting = asyncio.create_task(store.turns.begin_turn("t:3", None))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await store.turns.end_turn(lease, '{"v":1}')
    second = await asyncio.wait_for(waiting, 5)
    assert second is not None and second.session == '{"v":1}'
    await store.turns.release(second)


async def test_an_expired_lock_saves_nothing(store: Store) -> None:
    lease = await store.turns.begin_turn("t:4", "m1")
    assert lease is not None
    await store.redis.delete(f"{store.prefix}{{u:t:4}}:lock")
    assert not await store.turns.end_turn(lease, '{"v":1}')
    assert not await store.redis.exists(f"{store.prefix}{{u:t:4}}:session")


async def test_a_lock_held_too_long_gives_busy(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.store.turns.LOCK_WAIT_S", 0.05)
    lease = await store.turns.begin_turn("t:5", None)
    assert lease is not None
    with pytest.raises(BusyError):
        await store.turns.begin_turn("t:5", None)
    await store.turns.release(lease)


async def test_a_turn_saves_its_consent_changes_with_the_session(store: Store) -> None:
    """The closing script merges the turn's consent changes; the next turn reads them with the
    session; a record of another version is left for the caller to migrate, the session saved."""
    consent = store.keys.consent("t:9")
    lease = await store.turns.begin_turn("t:9", "m1")
    assert lease is not None and lease.consent is None
    adult = (json.dumps({"age": "adult"}), 1, '{"notice":0,"age":"","v":1}')
    assert await store.turns.end_turn(lease, '{"v":1}', consent=adult) == Ended.SAVED
    assert await store.turns.end_turn(lease, '{"v":1}', consent=adult) == Ended.SAVED  # a rerun
    assert json.loads(await store.redis.get(consent)) == {"notice": 0, "age": "adult", "v": 1}
    lease = await store.turns.begin_turn("t:9", "m2")
    assert lease is not None and json.loads(lease.consent or "{}")["age"] == "adult"
    senior = (json.dumps({"age": "senior"}), 2, "{}")
    assert await store.turns.end_turn(lease, '{"v":2}', consent=senior) == Ended.CONSENT_LEFT
    assert json.loads(await store.redis.get(consent))["age"] == "adult"
    assert await store.redis.get(store.keys.session("t:9")) == '{"v":2}'


async def test_recording_a_pledge_twice_changes_nothing(store: Store) -> None:
    """The second recording (a retried confirmation) counts nothing and lets its freshly
    drawn reference code go; a code another pledge holds is not taken over."""
    user, counters, day = UserKey("t:6"), {"pledges": 1}, "2026-03-12"
    first = await store.pledges.create(user, "P1", "{}", "jinkui", counters, day, reference="R1")
    assert first.created and first.reference_kept
    again = await store.pledges.create(user, "P1", "{}", "jinkui", counters, day, reference="R2")
    assert not again.created and not again.reference_kept
    assert await store.pledges.day_stats(day) == {"pledges": 1}
    assert await store.payments.by_reference(["R1", "R2"]) == [(user, "P1"), None]
    other = await store.pledges.create(user, "P2", "{}", "jinkui", counters, day, reference="R1")
    assert other.created and not other.reference_kept
    assert await store.payments.by_reference(["R1"]) == [(user, "P1")]


async def test_generated_secret_is_made_once(store: Store) -> None:
    assert await store.shared_secret() == await store.shared_secret()


async def test_conversation_resumes_after_redis_restarts(tmp_path: Path) -> None:
    """The embedded server (append-only file) stops and starts between two turns."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    store = Store(connect(url), prefix="restart:")
    settings = Settings(
        redis_url=url,
        data_dir=tmp_path,
        bot_secret="x" * 16,
        public_base_url="https://trees.example.org",  # link-out, not the newcomer's demo
    )
    try:
        runtime = await build_runtime(settings, store, load_catalog())
        chat = Chat(runtime.engine, user_id="r1")
        await chat.say("/pledge")
        await chat.tap("base:jinkui")
        server.stop()
        server = EmbeddedRedis(tmp_path / "redis")
        server.start()
        await chat.tap("form:donation")
        assert "请输入捐资金额" in chat.last.text
        await chat.say("100")
        await chat.say("张三")
        await chat.tap("confirm")
        assert "参考码" in chat.text and await pay(runtime, "test:r1") is not None
    finally:
        await store.close()
        server.stop()


async def test_a_pledge_survives_kill_9_of_the_embedded_server(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    store = Store(connect(url), prefix="kill:")
    try:
        await store.pledges.create(UserKey("t:7"), "P1", '{"x":1}', "jinkui", {}, "2026-03-12")
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)  # no chance to flush anything
        server.stop()  # leaves (nothing answers any more)
        server = EmbeddedRedis(tmp_path / "redis")
        server.start()
        assert await store.pledges.of_user("t:7") == {"P1": '{"x":1}'}
    finally:
        await store.close()
        server.stop()


def test_a_second_process_joins_the_running_embedded_server(tmp_path: Path) -> None:
    first, second = EmbeddedRedis(tmp_path), EmbeddedRedis(tmp_path)
    try:
        assert first.start() == second.start()
        assert first.owned and not second.owned
    finally:
        second.stop()
        first.stop()


async def test_turn_scripts_survive_being_run_twice(store: Store) -> None:
    """A client retry after a lost reply runs a script again: the turn still goes through."""
    lease = await store.turns.begin_turn("t:8", "m1")
    assert lease is not None
    keys = store.turns.turn_keys("t:8", "m1")
    k = store.keys
    named = [
        k.lock("t:8"),
        k.session("t:8"),
        k.notes("t:8"),
        k.consent("t:8"),
        k.seen("t:8", "m1"),
    ]
    assert keys == named
    status, *_ = await store.turns.run("begin", keys, [lease.token, 1000])
    assert status == "ok"  # the lock is ours already
    assert await store.turns.end_turn(lease, '{"v":2}')
    assert await store.turns.end_turn(lease, '{"v":2}')  # saved by the first run
    assert not await store.turns.end_turn(lease, '{"v":3}')
