"""Benchmark: the admin console with many pledges in Redis: the dashboard's latency, the open
books' (`/open`, its JSON and CSV, a base's page), and an export of all pledges streamed with
the bot's memory watched.

    python -m bench.admin [--pledges 100000] [--requests 200]

Seeds pledges over the last year (half of them fulfilled) through the pledge service, starts
`python -m bot serve` as its own process over the same keys, logs in through the form, then
asks for the dashboard (30 days and a whole year) and downloads the pledges export as CSV and
XLSX. Uses REDIS_URL when set, else the bot's embedded server. Bounded; prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench.common import bench_redis, bot_process, cpu_seconds
from bot.catalog import load_catalog
from bot.config import Settings
from bot.loop import run as run_loop
from bot.model import UserKey
from bot.runtime import build_runtime
from bot.services.pledges import Pledge
from bot.store import Store, connect

SECRET = "b" * 32
PASSWORD = "bench password 1"  # noqa: S105 - a benchmark's own account
CHUNK = 1000


async def seed(url: str, prefix: str, count: int) -> None:
    """`count` pledges over the last year at random bases, half fulfilled."""
    catalog = load_catalog()
    settings = Settings(
        redis_url=url, key_prefix=prefix, bot_secret=SECRET, data_dir=Path(tempfile.mkdtemp())
    )
    store = Store(connect(url), prefix=prefix)
    runtime = await build_runtime(settings, store, catalog)
    rng = random.Random(7)
    bases = [b.id for b in catalog.bases if "donation" in b.forms]
    now = datetime.now(UTC)
    started = time.perf_counter()
    for first in range(0, count, CHUNK):
        chunk = [
            Pledge(
                id=f"B{i:08d}",
                user_key=UserKey(f"bench:{i % (count // 2 + 1)}"),
                base=rng.choice(bases),
                form="donation",
                trees=5,
                amount_yuan=100,
                name="张三",
                locale="zh",
                created=(now - timedelta(seconds=rng.randrange(365 * 86400))).isoformat(
                    timespec="seconds"
                ),
            )
            for i in range(first, min(count, first + CHUNK))
        ]
        await asyncio.gather(*(runtime.pledges.confirm(p) for p in chunk))
        await asyncio.gather(
            *(runtime.pledges.fulfil(p.user_key, p.id, "bench", notify=False) for p in chunk[::2])
        )
    await runtime.admins.add("bench", "city", PASSWORD, "bench")
    print(f"seeded {count} pledges in {time.perf_counter() - started:.0f} s")
    await store.close()


async def log_in(session: aiohttp.ClientSession, base: str) -> None:
    page = await (await session.get(f"{base}/admin/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no login form")
    form = {"csrf": token.group(1), "username": "bench", "password": PASSWORD}
    async with session.post(f"{base}/admin/login", data=form, allow_redirects=False) as answer:
        if answer.status != 303:
            raise RuntimeError(f"login answered {answer.status}")


async def latency(
    session: aiohttp.ClientSession, base: str, path: str, requests: int, what: str = ""
) -> None:
    """Ask for a page `requests` times, one after another; print p50 and p99."""
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        async with session.get(f"{base}{path}") as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
        latencies.append(time.perf_counter() - start)
    qs = statistics.quantiles(latencies, n=100)
    p50, p99 = qs[49] * 1000, qs[98] * 1000
    print(f"{what or path}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {requests} asked")


def peak_rss(pid: int) -> float:
    """A process's peak resident memory (MB), the mark reset afterwards."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:"))
    return peak / 1024


def reset_peak(pid: int) -> float:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peak_rss(pid)


async def export(session: aiohttp.ClientSession, base: str, fmt: str, pid: int) -> None:
    before = reset_peak(pid)
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    size = 0
    async with session.get(f"{base}/admin/exports/pledges.{fmt}") as response:
        async for chunk in response.content.iter_chunked(1 << 16):
            size += len(chunk)
    elapsed = time.perf_counter() - start
    print(
        f"export pledges.{fmt}: {size / 1e6:.1f} MB in {elapsed:.1f} s "
        f"(bot CPU {cpu_seconds(pid) - cpu:.1f} s); bot memory {before:.0f} MB before, "
        f"peak {peak_rss(pid):.0f} MB during"
    )


async def main(pledges: int, requests: int) -> None:
    with bench_redis() as url:
        prefix = f"bench-{uuid.uuid4().hex[:8]}:"
        await seed(url, prefix, pledges)
        env = {"REDIS_URL": url, "REDIS_KEY_PREFIX": prefix, "PUBLIC_BASE_URL": "http://127.0.0.1"}
        jar = aiohttp.CookieJar(unsafe=True)  # the console's cookies, from 127.0.0.1
        async with (
            aiohttp.ClientSession(cookie_jar=jar) as session,
            bot_process(session, **env) as (base, pid),
        ):
            await log_in(session, base)
            await latency(session, base, "/admin", 20)  # warm up
            await latency(session, base, "/admin", requests, "dashboard (last 30 days)")
            year = datetime.now(UTC).date()
            whole = f"/admin?from={year - timedelta(days=364)}&to={year}"
            await latency(session, base, whole, requests, "dashboard (a year)")
            for path in ("/open", "/open/figures.json", "/open/figures.csv", "/bases/jinkui"):
                await latency(session, base, path, requests)
            for fmt in ("csv", "xlsx"):
                await export(session, base, fmt, pid)
        store = Store(connect(url), prefix=prefix)
        await store.delete_prefix()
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pledges", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    run_loop(main(args.pledges, args.requests))
