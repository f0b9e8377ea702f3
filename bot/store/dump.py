"""Every kept key as plain values, and back: the body of a backup.

A key becomes one or more items `{"k": name, "t": type, "v": values, "x": ttl_ms}`: the name
without the prefix, the Redis type, and values as text (or `{"b64": ...}` where they are not
UTF-8, such as a HyperLogLog or a photo). A small key is read in one command, so it is copied as
it was at one moment; a big collection comes in chunks of `CHUNK` (each chunk adds to the key).
Items are written back with plain commands (SET, HSET, SADD, ZADD, RPUSH, XADD), so a backup
restores into any Redis or Valkey, standalone or cluster, of any version.

The client here answers bytes (`connect(decode=False)`): values that are not text survive.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import redis.asyncio as redis

from bot.errors import StoreError
from bot.store.base import call
from bot.store.keys import Kept, Keys

CHUNK = 1000  # elements of a collection per item, and keys per round trip
Text: TypeAlias = str | dict[str, str]  # text, or {"b64": ...} for bytes that are not UTF-8
Item: TypeAlias = dict[str, Any]

_SIZE = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD", "list": "LLEN", "stream": "XLEN"}
TYPES = frozenset(_SIZE) | {"string"}  # what a backup copies


def text(raw: bytes) -> Text:
    """Bytes as JSON: text when they are UTF-8, else base64."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode()}


def raw(value: Text) -> bytes:
    """The bytes `text` made JSON of."""
    if isinstance(value, dict):
        return base64.b64decode(value["b64"], validate=True)
    return value.encode()


async def items(client: redis.Redis, keys: Keys, evidence: bool) -> AsyncIterator[Item]:
    """Every record key under the prefix (and claim photos when `evidence`), as items."""
    batch: list[bytes] = []
    async for key in client.scan_iter(match=keys.pattern(), count=CHUNK):
        kept = keys.kept(key.decode(errors="replace"))
        if kept is Kept.RECORD or (evidence and kept is Kept.EVIDENCE):
            batch.append(key)
        if len(batch) >= CHUNK:
            async for item in _read(client, keys, batch):
                yield item
            batch = []
    async for item in _read(client, keys, batch):
        yield item


async def _read(client: redis.Redis, keys: Keys, batch: list[bytes]) -> AsyncIterator[Item]:
    """A batch of keys: type, time to live and size in one round trip, the small ones' values
    in another, big collections chunk by chunk."""
    if not batch:
        return
    pipe = client.pipeline(transaction=False)
    for key in batch:
        pipe.type(key)
        pipe.pttl(key)
    found = await call(pipe.execute())
    kinds = [k.decode() for k in found[0::2]]
    ttls = [int(t) if int(t) > 0 else None for t in found[1::2]]
    pipe = client.pipeline(transaction=False)
    for key, kind in zip(batch, kinds, strict=True):
        if kind in _SIZE:
            pipe.execute_command(_SIZE[kind], key)
    sizes = iter(await call(pipe.execute()))
    small: list[tuple[bytes, str, int | None]] = []
    big: list[tuple[bytes, str, int | None]] = []
    for key, kind, ttl in zip(batch, kinds, ttls, strict=True):
        if kind == "none":  # gone since the scan
            continue
        if kind not in TYPES:
            raise StoreError(f"key {key!r} has type {kind}, which a backup cannot copy")
        (small if kind == "string" or next(sizes) <= CHUNK else big).append((key, kind, ttl))
    pipe = client.pipeline(transaction=False)
    for key, kind, _ in small:
        _whole(pipe, key, kind)
    for (key, kind, ttl), value in zip(small, await call(pipe.execute()), strict=True):
        if value is not None and (kind == "string" or value):  # not gone since the scan
            yield _item(keys, key, kind, _values(kind, value), ttl)
    for key, kind, ttl in big:
        async for values in _chunks(client, key, kind):
            yield _item(keys, key, kind, values, ttl)


def _item(keys: Keys, key: bytes, kind: str, values: Any, ttl: int | None) -> Item:
    item: Item = {"k": text(key.removeprefix(keys.prefix.encode())), "t": kind, "v": values}
    if ttl is not None:
        item["x"] = ttl
    return item


def _whole(pipe: Any, key: bytes, kind: str) -> None:
    """Queue the command that reads a whole key."""
    if kind == "string":
        pipe.get(key)
    elif kind == "hash":
        pipe.hgetall(key)
    elif kind == "set":
        pipe.smembers(key)
    elif kind == "zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == "list":
        pipe.lrange(key, 0, -1)
    else:
        pipe.xrange(key)


async def _chunks(client: redis.Redis, key: Any, kind: str) -> AsyncIterator[Any]:
    """A big collection, CHUNK elements at a time (SCAN-style: elements there throughout are
    all seen; for lists and streams, ranges in order)."""
    scans = {"hash": client.hscan, "set": client.sscan, "zset": client.zscan}
    if kind in scans:
        cursor = 0
        while True:
            cursor, part = await call(scans[kind](key, cursor, count=CHUNK))
            if part:
                yield _values(kind, part)
            if not cursor:
                return
    elif kind == "list":
        start = 0
        while part := await call(client.lrange(key, start, start + CHUNK - 1)):
            yield _values(kind, part)
            start += CHUNK
    else:
        after = b"-"
        while part := await call(client.xrange(key, min=after, count=CHUNK)):
            yield _values(kind, part)
            after = b"(" + part[-1][0]


def _values(kind: str, found: Any) -> Any:
    """What Redis answered, as JSON."""
    if kind == "string":
        return text(found)
    if kind == "hash":
        return [[text(f), text(v)] for f, v in found.items()]
    if kind in ("set", "list"):
        return [text(m) for m in found]
    if kind == "zset":
        return [[text(m), s] for m, s in found]
    return [[i.decode(), [[text(f), text(v)] for f, v in fields.items()]] for i, fields in found]


async def any_key(client: redis.Redis, keys: Keys) -> bool:
    """True when some key lives under the prefix."""
    async for _ in client.scan_iter(match=keys.pattern(), count=CHUNK):
        return True
    return False


class Loader:
    """Writes items back, CHUNK commands per round trip. With `replace`, a key of the backup
    that exists already is emptied before its first item."""

    def __init__(self, client: redis.Redis, keys: Keys, replace: bool) -> None:
        self.client = client
        self.keys = keys
        self.replace = replace
        self._pipe = client.pipeline(transaction=False)
        self._queued = 0
        self._last = b""  # the items of one key come one after another

    async def add(self, item: Item) -> None:
        """Queue one item; send the queue when it is full."""
        key: Any = self.keys.prefix.encode() + raw(item["k"])  # the stubs say str; bytes work
        pipe, values, kind = self._pipe, item["v"], item["t"]
        if self.replace and key != self._last:
            pipe.delete(key)
        self._last = key
        if kind == "string":
            pipe.set(key, raw(values))
        elif kind == "hash":
            pipe.hset(key, mapping={raw(f): raw(v) for f, v in values})
        elif kind == "set":
            pipe.sadd(key, *[raw(m) for m in values])
        elif kind == "zset":
            pipe.zadd(key, {raw(m): float(s) for m, s in values})
        elif kind == "list":
            pipe.rpush(key, *[raw(m) for m in values])
        else:
            for entry_id, fields in values:
                pipe.xadd(key, {raw(f): raw(v) for f, v in fields}, id=entry_id)
        if "x" in item:
            pipe.pexpire(key, int(item["x"]))
        self._queued += 1
        if self._queued >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        """Send what is queued."""
        if self._queued:
            await call(self._pipe.execute())
            self._queued = 0
