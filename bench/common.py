"""What the channel benchmarks share: the bot as its own `python -m bot serve` process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import aiohttp

from bot.ops.embedded import EmbeddedRedis
from bot.store import Store, connect


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(session: aiohttp.ClientSession, base: str, within_s: float = 30) -> None:
    """Wait until the bot answers /healthz (`within_s` at most)."""
    for _ in range(int(within_s * 10)):
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not come up")


@contextlib.asynccontextmanager
async def bot_process(
    session: aiohttp.ClientSession, *args: str, wrapper: Sequence[str] = (), **env: str
) -> AsyncIterator[tuple[str, int]]:
    """`python -m bot serve ARGS` with these settings, its own key prefix and data directory,
    run by `wrapper` when given (valgrind, say: given five minutes to come up); yields its base
    URL and pid, and stops it afterwards, deleting what it kept (the keys under its prefix on a
    Redis given by REDIS_URL, which outlives the bench, and the directory)."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-")
    environment = dict(
        os.environ,
        PORT=str(port),
        BOT_SECRET="b" * 32,
        REDIS_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}:",
        BOT_DATA_DIR=folder,
        ALLOW_VOLATILE_REDIS="1",  # benchmark data is thrown away
    )
    environment.update(env)  # the caller's settings win
    command = (*wrapper, sys.executable, "-m", "bot", "serve", *args)
    bot = await asyncio.create_subprocess_exec(
        *command, env=environment, stdout=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(session, base, 300 if wrapper else 30)
        yield base, bot.pid
    finally:
        bot.terminate()
        await bot.wait()
        await forget(environment.get("REDIS_URL", ""), environment["REDIS_KEY_PREFIX"])
        shutil.rmtree(folder, ignore_errors=True)


async def forget(url: str, prefix: str) -> None:
    """Delete every key under `prefix` on the Redis at `url` (nothing when there is none: the
    bot's embedded server went with its directory)."""
    if not url:
        return
    store = Store(connect(url), prefix)
    try:
        await store.delete_prefix()
    finally:
        await store.close()


@contextlib.contextmanager
def bench_redis() -> Iterator[str]:
    """REDIS_URL when set, else an embedded server in a temporary directory for the run."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    try:
        yield embedded.start()
    finally:
        embedded.stop()
