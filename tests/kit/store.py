"""What a store holds, to show that a refused request changed nothing."""

from __future__ import annotations

from redis.client import NEVER_DECODE

from bot.store import Store


async def contents(store: Store, *, leaving: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every key under the store's prefix with its value as Redis serialises it (DUMP: any
    type, bytes as they are), but keys whose name after the prefix starts with one of
    `leaving` (the audit log, say)."""
    redis, found = store.redis, {}
    async for key in redis.scan_iter(match=store.keys.pattern(), count=1000):
        if not key.removeprefix(store.prefix).startswith(leaving):
            found[key] = await redis.execute_command("DUMP", key, **{NEVER_DECODE: True})
    return found
