"""Benchmark: broadcast delivery rate per worker with the limit raised, rate accuracy at the
default limit, and peak memory while streaming 10k and 200k subscribers (it should stay flat).

    python -m bench.broadcast [--fast 5000] [--paced 250] [--audiences 10000,200000]

Against a fake Telegram Bot API on 127.0.0.1. Uses REDIS_URL when set, else the embedded
server. Bounded: each round has a fixed number of subscribers.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import uuid

from bench.common import bench_redis
from bot.catalog import load_catalog
from bot.channels.platforms import open_channels
from bot.config import Settings
from bot.loop import run as run_loop
from bot.runtime import build_runtime
from bot.services.appeals import Appeals
from bot.store import Store, connect
from bot.store.broadcasts import AudienceChannel, AudienceLang, Broadcast
from bot.worker.appeals import AppealSender
from tests.fakes.telegram import FakeTelegram


async def subscribe(store: Store, count: int, offset: int) -> None:
    for start in range(0, count, 10_000):
        pipe = store.redis.pipeline(transaction=False)
        members = [f"telegram:{offset + i}" for i in range(start, min(count, start + 10_000))]
        pipe.sadd(f"{store.prefix}subscribers:telegram", *members)
        await pipe.execute()


async def deliver(sender: AppealSender, count: int) -> float:
    appeal = Broadcast("", "植树倡议", "appeal", channel=AudienceChannel.TELEGRAM)
    bc = await sender.appeals.create(appeal)
    begin = time.perf_counter()
    await sender.run_once()
    elapsed = time.perf_counter() - begin
    done = await sender.appeals.get(bc.id)
    if done is None or done.counts["sent"] != count:
        raise RuntimeError(f"not every message went out: {done}")
    return count / elapsed


async def streaming_peak(appeals: Appeals) -> tuple[int, float]:
    """Peak Python memory while the whole audience streams through (language filter on, so
    every recipient's session is read too)."""
    tracemalloc.start()
    begin = time.perf_counter()
    audience = Broadcast("", "x", "x", channel=AudienceChannel.TELEGRAM, lang=AudienceLang.ZH)
    size = await appeals.audience_size(audience)
    elapsed = time.perf_counter() - begin
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, size / elapsed


async def run(url: str, fast: int, paced: int, audiences: list[int]) -> None:
    async with FakeTelegram() as fake:
        for label, count, rate in (("limit raised", fast, 1_000_000.0), ("default", paced, 25.0)):
            store = Store(connect(url), prefix=f"bench-bc-{uuid.uuid4().hex[:8]}:")
            settings = Settings(
                redis_url=url,
                bot_secret="b" * 32,
                telegram_bot_token="1:b",  # noqa: S106 - the fake
                telegram_api_base_url=fake.url,
                broadcast_rate=rate,
            )
            runtime = await build_runtime(settings, store, load_catalog())
            await subscribe(store, count, 1_000_000)
            async with open_channels(runtime, settings, appeals=True) as channels:
                sender = AppealSender(runtime.appeals, store.users, channels.port)
                achieved = await deliver(sender, count)
            print(
                f"{label}: {count} messages at {achieved:.1f} messages/s per worker"
                + (f" (limit {rate:.0f}/s)" if rate < 1000 else "")
            )
            await store.delete_prefix()
            await store.close()
    for count in audiences:
        store = Store(connect(url), prefix=f"bench-bc-{uuid.uuid4().hex[:8]}:")
        runtime = await build_runtime(
            Settings(redis_url=url, bot_secret="b" * 32), store, load_catalog()
        )
        await subscribe(store, count, 0)
        peak, per_second = await streaming_peak(runtime.appeals)
        print(
            f"audience of {count}: peak Python memory {peak / 1024:.0f} KiB while streaming "
            f"({per_second:.0f} recipients/s filtered)"
        )
        await store.delete_prefix()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", type=int, default=5000)
    parser.add_argument("--paced", type=int, default=250)
    parser.add_argument("--audiences", default="10000,200000")
    args = parser.parse_args()
    with bench_redis() as url:
        run_loop(run(url, args.fast, args.paced, [int(a) for a in args.audiences.split(",")]))


if __name__ == "__main__":
    main()
