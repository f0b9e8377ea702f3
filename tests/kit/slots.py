"""Slots and workers for tests: a slot some hours ahead, a worker whose pushes become notes."""

from __future__ import annotations

import time

from bot.channels.port import Port
from bot.runtime import Runtime
from bot.store.slots import Slot
from bot.worker.outbox import Worker

HOUR = 3600


async def add_slot(
    runtime: Runtime,
    base: str = "jinkui",
    hours_ahead: float = 48,
    length_h: float = 3,
    capacity: int = 20,
    task: str = "植树",
) -> Slot:
    start = int(time.time() + hours_ahead * HOUR)
    return await runtime.bookings.add_slot(
        base, start, start + int(length_h * HOUR), capacity, task
    )


def worker(runtime: Runtime, name: str = "w1") -> Worker:
    return Worker(runtime, Port({}, runtime.store.users), name=name)


async def starting_now(runtime: Runtime, slot_id: str) -> None:
    """Move a slot to have started ten minutes ago (its check-in window open), as if the day
    had come."""
    start = int(time.time()) - 600
    meta = runtime.store.keys.slot(slot_id, "meta")
    await runtime.store.redis.hset(meta, mapping={"start": start, "end": start + 2 * HOUR})
