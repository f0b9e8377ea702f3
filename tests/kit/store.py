"""What a store holds, to show that a refused request changed nothing."""

from __future__ import annotations

from typing import Any

from bot.store import Store


async def contents(store: Store, *, leaving: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every key under the store's prefix with its value (by type), but keys whose name after
    the prefix starts with one of `leaving` (the audit log, say)."""
    redis, found = store.redis, {}
    async for key in redis.scan_iter(match=store.keys.pattern(), count=1000):
        if key.removeprefix(store.prefix).startswith(leaving):
            continue
        kind = await redis.type(key)
        if kind == "string":
            found[key] = await redis.get(key)
        elif kind == "hash":
            found[key] = await redis.hgetall(key)
        elif kind == "set":
            found[key] = await redis.smembers(key)
        elif kind == "zset":
            found[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            found[key] = await redis.lrange(key, 0, -1)
        else:  # a stream: its length and last id are enough to see a change
            found[key] = (await redis.xlen(key), await redis.xrevrange(key, count=1))
    return found
