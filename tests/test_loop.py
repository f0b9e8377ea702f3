"""The event loop: the bot's commands run on uvloop (bot/loop.py), asyncio's own loop where
uvloop is missing; the tests run on uvloop too, under the loopback guard."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest
import uvloop

from bot import loop


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
