"""Shared fixtures: a real Redis (REDIS_URL or the embedded server), a store per test under its
own key prefix, the wired runtime, a chat kit, and a guard against leaving loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from bot.catalog import load_catalog
from bot.config import Settings
from bot.ops.embedded import EmbeddedRedis
from bot.runtime import Runtime, build_runtime
from bot.store import Store, connect
from bot.store.blobs import DirectoryBlobs
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wechat import FakeWeChat
from tests.kit.chat import Chat
from tests.kit.servers import CLUSTER, valkey_cluster

# Test servers keep nothing on disk: processes the tests start may use them anyway
# (tests/test_durability.py checks the refusal itself, without this).
os.environ.setdefault("ALLOW_VOLATILE_REDIS", "1")

SECRET = "test-secret-0123456789abcdef"  # noqa: S105 - a test key
_real_connect = socket.socket.connect


def _refuse_unless_loopback(host: str) -> None:
    """Refuse an address or host name that is not this machine's (uvloop is given names)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost
        loopback = False
    if not loopback:
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {host}")


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse_unless_loopback(address[0])
    return _real_connect(self, address)


class LoopbackLoop(uvloop.Loop):
    """The bot's event loop (bot/loop.py), under the same guard: uvloop connects to a host
    without `socket.connect` (redis-py, asyncio.open_connection)."""

    async def create_connection(  # type: ignore[override]
        self, protocol_factory: Any, host: str | None = None, port: int | None = None, **kw: Any
    ) -> Any:
        if host is not None:
            _refuse_unless_loopback(host)
        return await super().create_connection(protocol_factory, host, port, **kw)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Every async test runs on uvloop, as the bot does."""
    return {"uvloop": LoopbackLoop}


@pytest.fixture(autouse=True, scope="session")
def loopback_guard() -> Iterator[None]:
    """Fail any connection that would leave this machine."""
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start processes (tests/system/) run one after another on one xdist worker,
    beside the in-process tests on the others: they share nothing, but they keep the cores
    busy with servers and browsers of their own."""
    for item in items:
        if item.nodeid.startswith("tests/system/"):
            item.add_marker(pytest.mark.xdist_group("system"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite golden images")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set, else an embedded server for this test run; with
    TEST_REDIS_CLUSTER=1 a three-node Valkey cluster (processes started by tests inherit
    REDIS_CLUSTER=1)."""
    if CLUSTER:
        with valkey_cluster(tmp_path_factory.mktemp("cluster")) as url:
            os.environ["REDIS_CLUSTER"] = "1"
            yield url
        return
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = embedded.start()
    yield url
    embedded.stop()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    """A store under a key prefix of its own, emptied afterwards (SCAN+DEL, never FLUSHDB)."""
    store = Store(connect(redis_url, cluster=CLUSTER), prefix=f"test:{uuid.uuid4().hex[:12]}:")
    yield store
    await store.delete_prefix()
    await store.close()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    """Settings for a test: its own data directory and a fixed secret."""
    return Settings(
        redis_url=redis_url,
        redis_cluster=CLUSTER,
        data_dir=tmp_path,
        bot_secret=SECRET,
        public_base_url="https://trees.example.org",
    )


@pytest.fixture
def blobs(tmp_path: Path) -> DirectoryBlobs:
    """The test's blobs: the directory its runtime keeps them in."""
    return DirectoryBlobs(tmp_path / "blobs")


@pytest.fixture
async def runtime(settings: Settings, store: Store) -> Runtime:
    """The wired bot over the test's store."""
    return await build_runtime(settings, store, load_catalog())


@pytest.fixture
def cli_env(runtime: Runtime, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a command run as a process over the test's store."""
    return dict(
        os.environ,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=runtime.store.prefix,
        BOT_DATA_DIR=str(tmp_path),
        BOT_SECRET="c" * 32,
    )


@pytest.fixture
def chat(runtime: Runtime) -> Chat:
    """A Chinese-speaking user chatting with the engine."""
    return Chat(runtime.engine, user_id="u1", locale="zh-hans", display_name="张三")


@pytest.fixture
def chat_en(runtime: Runtime) -> Chat:
    """An English-speaking user chatting with the engine."""
    return Chat(runtime.engine, user_id="u2", locale="en", display_name="Jane Doe")


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeWeChat]]:
    async with FakeTelegram() as telegram, FakeWeChat() as wechat:
        yield telegram, wechat
