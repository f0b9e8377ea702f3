"""Benchmark: the worker's daily retention run over many pledges, and /mydata for one user.

    python -m bench.retention [--pledges 50000]

Seeds pledges through the pledge service, a third of them older than the catalogue's retention
(3 years) and fulfilled, spread over many users; then runs retention once (anonymising the old
ones), again (nothing left to do: the scan alone), and collects /mydata for a user with 50
pledges. Uses REDIS_URL when set, else the bot's embedded server; keys under a prefix of its
own, deleted afterwards. Prints seconds, pledges per second and peak memory growth.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import bench_redis
from bot.catalog import load_catalog
from bot.channels.port import Port
from bot.config import Settings
from bot.loop import run as run_loop
from bot.model import UserKey
from bot.runtime import Runtime, build_runtime
from bot.services import serials
from bot.services.pledges import Pledge
from bot.store import Store, connect
from bot.worker.outbox import Worker

CHUNK = 1000
YEAR_S = 365.25 * 86400


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(runtime: Runtime, count: int) -> None:
    now = datetime.now(UTC)
    for first in range(0, count, CHUNK):
        chunk = []
        for i in range(first, min(count, first + CHUNK)):
            age_s = (3.5 if i % 3 == 0 else 1.0) * YEAR_S + i
            chunk.append(
                Pledge(
                    id=serials.new_id(),
                    user_key=UserKey(f"bench:{i % (count // 4 + 1)}"),
                    base="jinkui",
                    form="afforestation",
                    trees=5,
                    amount_yuan=0,
                    name="张三丰",
                    locale="zh",
                    created=(now - timedelta(seconds=age_s)).isoformat(timespec="seconds"),
                )
            )
        await asyncio.gather(*(runtime.pledges.confirm(p) for p in chunk))
        old = [p for p in chunk if datetime.fromisoformat(p.created) < now - timedelta(days=1100)]
        await asyncio.gather(
            *(runtime.pledges.fulfil(p.user_key, p.id, "bench", notify=False) for p in old)
        )


async def main(count: int) -> None:
    with bench_redis() as url:
        prefix = f"bench:ret:{uuid.uuid4().hex[:8]}:"
        settings = Settings(
            redis_url=url,
            key_prefix=prefix,
            bot_secret="r" * 32,
            data_dir=Path(tempfile.mkdtemp()),
        )
        store = Store(connect(url), prefix=prefix)
        try:
            runtime = await build_runtime(settings, store, load_catalog())
            started = time.perf_counter()
            await seed(runtime, count)
            print(f"seeded {count} pledges in {time.perf_counter() - started:.1f} s")
            worker = Worker(runtime, Port({}, store.users))
            before = rss_mb()
            started = time.perf_counter()
            done = await worker.retention(datetime.now(UTC))
            took = time.perf_counter() - started
            print(
                f"retention: {done} of {count} anonymised in {took:.1f} s "
                f"({count / took:,.0f} pledges scanned/s), peak RSS +{rss_mb() - before:.0f} MB"
            )
            again = Worker(runtime, Port({}, store.users), name="again")
            await store.redis.delete(
                store.keys.jobs(f"daily:retention:{datetime.now(UTC).date()}")
            )
            started = time.perf_counter()
            redo = await again.retention(datetime.now(UTC))
            print(
                f"second run: {redo} anonymised, {time.perf_counter() - started:.1f} s (scan only)"
            )
            user = UserKey("bench:1")
            started = time.perf_counter()
            found = await runtime.mydata.collect(user)
            took_ms = (time.perf_counter() - started) * 1000
            kept = len(found["kept"].get("pledges") or {})
            keys = await store.redis.dbsize()
            print(
                f"/mydata of a user with {kept} pledges: {took_ms:.1f} ms ({keys:,} keys in Redis)"
            )
        finally:
            await store.delete_prefix()
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pledges", type=int, default=50_000)
    run_loop(main(parser.parse_args().pledges))
