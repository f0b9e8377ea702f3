"""Benchmark: booking latency p50/p99 under 1,000 concurrent attempts on one slot, and bookings
per second, through the booking service on one process against Redis.

    python -m bench.booking [--attempts 1000] [--capacity 50]

Two rounds: a slot of the given capacity (most attempts find it full) and a slot with room for
everyone (every attempt books). Uses REDIS_URL when set, else the embedded server. Bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from bench.common import bench_redis
from bot.catalog import load_catalog
from bot.loop import run as run_loop
from bot.services.bookings import Bookings
from bot.services.pledges import Pledges
from bot.store import Store, connect


async def round_of(bookings: Bookings, attempts: int, capacity: int) -> None:
    start = int(time.time()) + 86400
    slot = await bookings.add_slot("jinkui", start, start + 3 * 3600, capacity, "bench")
    now = int(time.time())

    async def attempt(i: int) -> tuple[str, float]:
        begin = time.perf_counter()
        result = await bookings.book(f"bench:{slot.id}-{i}", slot.id, "", "zh", now)
        return result.status, time.perf_counter() - begin

    begin = time.perf_counter()
    results = await asyncio.gather(*(attempt(i) for i in range(attempts)))
    elapsed = time.perf_counter() - begin
    latencies = [t for _, t in results]
    booked = sum(status == "booked" for status, _ in results)
    qs = statistics.quantiles(latencies, n=100)
    print(
        f"capacity {capacity}: {attempts} concurrent attempts in {elapsed:.2f}s "
        f"({attempts / elapsed:.0f} attempts/s), {booked} booked "
        f"({booked / elapsed:.0f} bookings/s), latency p50 {qs[49] * 1000:.1f} ms "
        f"p99 {qs[98] * 1000:.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=50)
    args = parser.parse_args()
    with bench_redis() as url:
        store = Store(connect(url), prefix=f"bench-booking-{uuid.uuid4().hex[:8]}:")
        try:
            catalog = load_catalog()
            bookings = Bookings(store, catalog, Pledges(store, catalog, "b" * 32))
            await round_of(bookings, args.attempts, args.capacity)
            await round_of(bookings, args.attempts, args.attempts)
        finally:
            await store.delete_prefix()
            await store.close()


if __name__ == "__main__":
    run_loop(main())
