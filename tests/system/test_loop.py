"""How a process runs (bot/loop.py): the bot's commands run on uvloop, asyncio's own loop where
uvloop is missing; the tests run on uvloop too, under the loopback guard. A serving process
settles its garbage collector once started (checked in processes of their own: the settings
are the process's)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest
import uvloop

from bot import loop
from bot.render import fonts


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_a_command_runs_on_uvloop() -> None:
    assert isinstance(loop.run(running_loop()), uvloop.Loop)


def test_without_uvloop_a_command_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on Windows: the import fails
    ran = loop.run(running_loop())
    assert isinstance(ran, asyncio.BaseEventLoop) and not isinstance(ran, uvloop.Loop)


async def test_the_tests_run_on_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)


@pytest.mark.parametrize("host", ["192.0.2.1", "2001:db8::1"])
async def test_a_connection_off_the_machine_is_refused_on_uvloop(host: str) -> None:
    """uvloop connects to a host without socket.connect: the guard covers it as well."""
    with pytest.raises(ConnectionRefusedError, match="loopback"):
        await asyncio.open_connection(host, 6379)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await session.get(f"http://[{host}]/" if ":" in host else f"http://{host}/")
    assert "loopback" in str(refused.value.os_error)


async def test_a_host_name_off_the_machine_is_refused_on_uvloop() -> None:
    """uvloop is handed names too, before any look-up: refused all the same."""
    with pytest.raises(ConnectionRefusedError, match="loopback"):
        await asyncio.open_connection("example.org", 6379)


def python(code: str, **env: str) -> str:
    """What `code` prints, run by this interpreter in a process of its own."""
    done = subprocess.run(  # noqa: S603 - this interpreter, our code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **env),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


SETTLED = """
import gc, weakref
print(gc.get_threshold()[0], gc.get_freeze_count() > 0)
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after start-up
gone = weakref.ref(a)
del a, b
gc.collect()
print(gone() is None)
"""


def test_settling_freezes_start_up_and_passes_less_often_yet_collects_cycles() -> None:
    before, after = python(SETTLED), python("from bot.loop import settle; settle()" + SETTLED)
    assert before.split() == ["700", "False", "True"]
    assert after.split() == [str(loop.YOUNG_OBJECTS), "True", "True"]


def test_a_serving_process_is_ready_and_settled_once_started(
    redis_url: str, tmp_path: Path
) -> None:
    """The app `serve` runs is built, its runtime open, the fonts' character maps read (not
    at the first name typed) and the collector settled."""
    code = """
import gc
from bot.render import fonts
from bot.web.app import _serving_app
from bot.config import load_settings
from bot.loop import run
async def main():
    app = await _serving_app(load_settings(), worker=True)
    print(gc.get_threshold()[0], gc.get_freeze_count() > 0, fonts.cmap.cache_info().currsize)
    await app.cleanup()
run(main())
"""
    printed = python(
        code,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"test:{uuid.uuid4().hex[:12]}:",
        BOT_DATA_DIR=str(tmp_path),
        BOT_SECRET="s" * 32,
    )
    assert printed.split() == [str(loop.YOUNG_OBJECTS), "True", str(len(fonts.faces()))]
