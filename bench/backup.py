"""Benchmark: backup and restore of many pledges with their histories.

    python -m bench.backup [--pledges 10000,100000]

For each size: seeds pledges through the pledge service (every one confirmed, every other one
fulfilled with its certificate: two events of history and the serial indexes), then runs
`python -m bot backup` and `python -m bot restore` (into an empty prefix of its own) as
processes, and prints seconds, the file's size and each process's peak memory; flat memory means
the peak barely moves between sizes. A sample of certificates is then verified in the restored
store. Uses REDIS_URL when set, else the bot's embedded server; keys deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import bench_redis
from bot.catalog import load_catalog
from bot.config import Settings
from bot.loop import run as run_loop
from bot.model import UserKey
from bot.runtime import Runtime, build_runtime
from bot.services import serials
from bot.services.pledges import Pledge, PledgeStatus
from bot.store import Store, connect

CHUNK = 1000
SECRET = "b" * 32


async def seed(runtime: Runtime, count: int) -> list[str]:
    """`count` pledges over count/2 users, every other one fulfilled; their serials."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    serials_made: list[str] = []
    for first in range(0, count, CHUNK):
        chunk = [
            Pledge(
                id=serials.new_id(),
                user_key=UserKey(f"bench:{i // 2}"),
                base=("jinkui", "guzhuang", "changguangxi")[i % 3],
                form="afforestation",
                trees=5,
                amount_yuan=0,
                name="张三丰",
                locale="zh",
                created=now,
            )
            for i in range(first, min(count, first + CHUNK))
        ]
        await asyncio.gather(*(runtime.pledges.confirm(p) for p in chunk))
        done = await asyncio.gather(
            *(runtime.pledges.fulfil(p.user_key, p.id, "bench", notify=False) for p in chunk[::2])
        )
        serials_made += [c.pledge.serial for c in done if c is not None and c.pledge.serial]
    return serials_made


def timed(*args: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run `python -m bot ARGS`: seconds, peak memory (MB) and its output."""
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "bot", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {output}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, output.strip()


async def one_size(url: str, count: int) -> None:
    source, target = (f"bench:bk:{uuid.uuid4().hex[:8]}:" for _ in range(2))
    folder = Path(tempfile.mkdtemp())
    settings = Settings(redis_url=url, key_prefix=source, bot_secret=SECRET, data_dir=folder)
    stores = [Store(connect(url), prefix=p) for p in (source, target)]
    try:
        runtime = await build_runtime(settings, stores[0], load_catalog())
        started = time.perf_counter()
        made = await seed(runtime, count)
        print(f"{count:,} pledges seeded in {time.perf_counter() - started:.1f} s")
        file = folder / "backup.jsonl.gz"
        env = dict(os.environ, REDIS_URL=url, BOT_SECRET=SECRET, BOT_DATA_DIR=str(folder))
        seconds, peak, said = timed("backup", str(file), env=env | {"REDIS_KEY_PREFIX": source})
        size = file.stat().st_size / 2**20
        print(f"  backup : {seconds:5.1f} s, peak {peak:5.0f} MB, {size:.1f} MB file ({said})")
        seconds, peak, said = timed(
            "restore", str(file), "--other-prefix", env=env | {"REDIS_KEY_PREFIX": target}
        )
        print(f"  restore: {seconds:5.1f} s, peak {peak:5.0f} MB ({said})")
        restored = await build_runtime(
            Settings(redis_url=url, key_prefix=target, bot_secret=SECRET, data_dir=folder),
            stores[1],
            load_catalog(),
        )
        for serial in random.sample(made, min(200, len(made))):
            pledge = await restored.pledges.by_serial(serial)
            if pledge is None or pledge.status is not PledgeStatus.FULFILLED:
                raise SystemExit(f"certificate {serial} does not verify after the restore")
        print(f"  {min(200, len(made))} certificates of the restored store verified")
    finally:
        for store in stores:
            await store.delete_prefix()
            await store.close()


async def main(sizes: list[int]) -> None:
    with bench_redis() as url:
        for count in sizes:
            await one_size(url, count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pledges", default="10000,100000", help="sizes, comma-separated")
    sizes = [int(n) for n in parser.parse_args().pledges.split(",")]
    run_loop(main(sizes))
