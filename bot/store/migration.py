"""What `migrate` needs from Redis: the keyspace page by page from saved cursors (one per node
on a cluster), the records of a page, compare-and-set writes, and its saved progress."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, field
from typing import Any, ClassVar, TypeAlias

from redis.asyncio.cluster import RedisCluster

from bot.model import immutable
from bot.store.base import Area, call

Cursors: TypeAlias = dict[str, int]  # node name ("" for one server) → SCAN cursor; 0: done

# KEYS: a hash. ARGV: field, the record as read, the new record. 1 if replaced.
_SWAP_FIELD = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# KEYS: a string. ARGV: the record as read, the new record. 1 if replaced (its TTL kept).
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


@immutable
class Progress:
    """Where a run is: cursors to resume from, counts by outcome, the records it left alone
    (named; the runner bounds how many)."""

    cursors: Cursors = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)


class MigrationStore(Area):
    """The keyspace in resumable pages and records swapped only if unchanged."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"swap_field": _SWAP_FIELD, "swap": _SWAP}

    async def pages(self, count: int, start: Cursors) -> AsyncIterator[tuple[Cursors, list[str]]]:
        """Keys under the prefix a SCAN page at a time, from `start` ({}: the beginning); each
        page with the cursors that resume after it (all 0 once the keyspace is done)."""
        match = self.keys.pattern()
        if isinstance(self.redis, RedisCluster):
            cluster = self.redis
            state = dict(start)
            if not state:
                cursors, found = await call(cluster.scan(match=match, count=count))
                state = {name: int(c) for name, c in cursors.items()}
                yield dict(state), list(found)
            while any(state.values()):
                for name, cursor in list(state.items()):
                    if not cursor:
                        continue
                    node = cluster.get_node(node_name=name)
                    cursors, found = await call(
                        cluster.scan(cursor, match=match, count=count, target_nodes=node)
                    )
                    state[name] = int(cursors[name])
                    yield dict(state), list(found)
            return
        cursor, first = start.get("", 0), not start
        while first or cursor:
            first = False
            cursor, found = await call(self.redis.scan(cursor, match=match, count=count))
            yield {"": int(cursor)}, list(found)

    async def read(self, hashes: list[str], strings: list[str]) -> list[Any]:
        """Whole hashes, then strings, in one round trip (a key gone reads empty or None)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in hashes:
            pipe.hgetall(key)
        for key in strings:
            pipe.get(key)
        return list(await call(pipe.execute()))

    async def swap(self, key: str, field: str | None, read: str, new: str) -> bool:
        """Write `new` where `read` was (a field of a hash, or a string); False when the record
        changed meanwhile."""
        if field is None:
            return bool(await self.run("swap", [key], [read, new]))
        return bool(await self.run("swap_field", [key], [field, read, new]))

    async def progress(self) -> Progress:
        """Where an unfinished run stopped (empty when none did)."""
        found = await call(self.redis.get(self.keys.migration()))
        if not found:
            return Progress()
        saved = json.loads(found)
        return Progress(saved["cursors"], saved["counts"], saved["left"])

    async def save(self, progress: Progress) -> None:
        """Remember where a run is (or forget it, once every cursor is 0)."""
        if not any(progress.cursors.values()):
            await call(self.redis.delete(self.keys.migration()))
            return
        await call(self.redis.set(self.keys.migration(), json.dumps(asdict(progress))))
