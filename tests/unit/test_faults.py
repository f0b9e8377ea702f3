"""Faults reach the user as a friendly message in their language, never as a crash."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.catalog import load_catalog
from bot.channels.base import answer
from bot.config import Settings
from bot.model import Turn
from bot.runtime import Runtime, build_runtime, open_runtime
from bot.store import Store, connect
from bot.web.app import create_app
from tests.kit.servers import valkey


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_down_gives_a_friendly_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}"
    store = Store(connect(url), prefix="down:")
    runtime = await build_runtime(
        Settings(redis_url=url, bot_secret="d" * 16), store, load_catalog()
    )
    try:
        zh = await answer(runtime.engine, Turn("test", "z", text="/start", locale="zh-hans"))
        en = await answer(
            runtime.engine, Turn("test", "e", text="/start", message_id="9", locale="en")
        )
    finally:
        await store.close()
    assert [m.text for m in zh] == ["抱歉，出了点问题，请稍后再试。您的已确认记录不受影响。"]
    assert en[0].text.startswith("Sorry, something went wrong")
    assert "channel=test message=9" in caplog.text and "user=" in caplog.text
    assert "test:e" not in caplog.text  # the raw user id stays out of the log


async def test_a_user_whose_lock_stays_held_is_told_to_wait(
    runtime: Runtime, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.store.turns.LOCK_WAIT_S", 0.05)
    lease = await store.turns.begin_turn("test:w", None)
    assert lease is not None
    replies = await answer(runtime.engine, Turn("test", "w", text="/start"))
    await store.turns.release(lease)
    assert "还在处理中" in replies[0].text


async def test_a_frozen_redis_answers_in_time_and_everything_resumes(tmp_path: Path) -> None:
    """Redis stopped with SIGSTOP: health says 503 within 2 s, a turn gets the friendly error
    within the timeout; after SIGCONT both work again."""
    with valkey(tmp_path) as (server, url):
        settings = Settings(redis_url=url, bot_secret="f" * 16, data_dir=tmp_path)
        async with open_runtime(settings) as runtime:
            app = create_app(settings, runtime)
            async with TestClient(TestServer(app)) as client:
                assert (await client.get("/healthz")).status == 200
                await answer(runtime.engine, Turn("test", "warm", text="/start"))
                server.send_signal(signal.SIGSTOP)
                try:
                    begin = time.monotonic()
                    health = await client.get("/healthz")
                    assert health.status == 503 and time.monotonic() - begin < 2.0
                    begin = time.monotonic()
                    frozen = await answer(runtime.engine, Turn("test", "a", text="/start"))
                    took = time.monotonic() - begin
                finally:
                    server.send_signal(signal.SIGCONT)
                assert took < settings.redis_timeout + 1.0
                assert frozen[0].text.startswith("抱歉，出了点问题，请稍后再试")
                assert (await client.get("/healthz")).status == 200
                thawed = await answer(runtime.engine, Turn("test", "b", text="/start"))
                assert "全民义务植树" in thawed[0].text
