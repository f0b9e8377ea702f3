"""What a store holds, to show that a refused request changed nothing."""

from __future__ import annotations

from typing import Any

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


async def traces(store: Store, needle: str) -> list[str]:
    """Every key under the store's prefix whose name, members, fields or values hold
    `needle` (a user's platform id, say): where it is, for an assertion to list."""
    redis, found = store.redis, []
    async for key in redis.scan_iter(match=store.keys.pattern(), count=1000):
        if needle in key:
            found.append(f"key {key}")
            continue
        kind = await redis.type(key)
        raw = await _everything(redis, key, kind)
        if needle in raw:
            found.append(f"{kind} {key}")
    return found


async def _everything(redis: Any, key: str, kind: str) -> str:
    """A key's members, fields and values as one text (binary values left out)."""
    try:
        if kind == "string":
            return str(await redis.get(key))
        if kind == "hash":
            return str(await redis.hgetall(key))
        if kind == "set":
            return str(await redis.smembers(key))
        if kind == "zset":
            return str(await redis.zrange(key, 0, -1))
        if kind == "list":
            return str(await redis.lrange(key, 0, -1))
        if kind == "stream":
            return str(await redis.xrange(key))
    except UnicodeDecodeError:  # a photo: bytes, not a name
        return ""
    return ""
