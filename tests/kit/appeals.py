"""Appeals for tests: subscribers written straight into Redis, and an appeal to send."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.store.broadcasts import Broadcast

TG = 100_000


async def subscribe(runtime: Runtime, user_keys: list[str]) -> None:
    pipe = runtime.store.redis.pipeline(transaction=False)
    for user_key in user_keys:
        pipe.sadd(f"{runtime.store.prefix}subscribers:{user_key.split(':', 1)[0]}", user_key)
    await pipe.execute()


def appeal(**fields: object) -> Broadcast:
    return Broadcast("", "植树节：8 个基地本周开放网上尽责", "Tree-planting day", **fields)  # type: ignore[arg-type]
