"""A second process for the capacity test: `python -m tests.kit.book_many URL PREFIX SLOT FIRST N`
tries to book N volunteers (numbered from FIRST) onto SLOT at once; prints how many got in."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from bot.catalog import load_catalog
from bot.services.bookings import Bookings
from bot.services.pledges import Pledges
from bot.store import Store, connect


async def main(url: str, prefix: str, slot: str, first: int, count: int) -> int:
    store = Store(connect(url, cluster=os.environ.get("REDIS_CLUSTER") == "1"), prefix)
    try:
        catalog = load_catalog()
        bookings = Bookings(store, catalog, Pledges(store, catalog, "x" * 32))
        now = int(time.time())
        results = await asyncio.gather(
            *(
                bookings.book(f"test:v{i}", slot, "", "zh", now)
                for i in range(first, first + count)
            )
        )
        return sum(r.status == "booked" for r in results)
    finally:
        await store.close()


if __name__ == "__main__":
    url, prefix, slot, first, count = sys.argv[1:6]
    print(asyncio.run(main(url, prefix, slot, int(first), int(count))))
