"""Pledge records (a hash per user, one field per pledge id), the certificate index and the
daily counters.

A pledge is created once (HSETNX by its id, so a retried confirmation records it once, and its
indexes and counters are written only by the call that created it) and then changes only by
compare-and-set: one script on the user's hash tag replaces the record if it is still the one
the change was computed from. The pledge service computes each transition and retries when
another process changed the pledge first, so no transition happens twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar, cast

from redis.asyncio.cluster import RedisCluster

from bot.model import UserKey, immutable
from bot.store.base import Area, call
from bot.store.jobs import DUE_SETS, JobKind
from bot.store.users import WITHDRAWN

Write = tuple[str, str, tuple[str | int, ...]]  # a command, its key, its other arguments
REINDEX_BATCH = 500  # users' pledge hashes read per round trip when indexes are remade

# KEYS: the user's pledges. ARGV: pledge id, the record as read. 1 if it was removed.
_REMOVE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: the user's pledges, [the reference code's key], then one key per write. ARGV: pledge id,
# record, the reference code's owner ('' for no code), then each write as: command, how many
# values, values (its key is the next of KEYS). {created, reference kept}.
_CREATE = """
local kept, at = 0, 2
if ARGV[3] ~= '' then
  at = 3
  if redis.call('SET', KEYS[2], ARGV[3], 'NX') then kept = 1 end
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  if kept == 1 then redis.call('DEL', KEYS[2]) end
  return {0, 0}
end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  redis.call(ARGV[i], KEYS[at], unpack(ARGV, i + 2, i + 1 + n))
  i, at = i + 2 + n, at + 1
end
return {1, kept}
"""

# KEYS: the user's pledges. ARGV: pledge id, the record as read, the new record. 1 if replaced.
_REPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


@immutable
class Creation:
    """What recording a new pledge did: whether it was new, and whether it holds the reference
    code it came with (False when another pledge holds the code, or none was given)."""

    created: bool
    reference_kept: bool


@immutable
class StoredPledge:
    """A pledge as stored: its owner and its JSON record."""

    user_key: UserKey
    pledge_id: str
    record: str


class PledgeStore(Area):
    """Pledges, certificate serials and statistics."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {
        "create": _CREATE,
        "replace": _REPLACE,
        "remove": _REMOVE,
    }

    async def create(
        self,
        user: UserKey,
        pledge_id: str,
        record: str,
        base: str,
        counters: Mapping[str, int],
        day: str,
        expiry: tuple[str, int] | None = None,
        reference: str = "",
    ) -> Creation:
        """Store a new pledge once (idempotent by id), claiming its link-out `reference` code
        first (a record never names a code it does not hold); then add its owner to the base's
        audience, count it for the day and queue its `expiry` job (ref, due). One round trip
        (one script) on a single server; two on a cluster, whose keys live apart. A code drawn
        for a pledge recorded before is let go again."""
        writes = self._creation_writes(user, pledge_id, base, counters, day, expiry)
        claim = (self.keys.reference(reference), f"{user}\n{pledge_id}") if reference else None
        if isinstance(self.redis, RedisCluster):
            return await self._create_in_two(user, pledge_id, record, claim, writes)
        keys = [self.keys.pledges(user), *([claim[0]] if claim else [])]
        args: list[str | int] = [pledge_id, record, claim[1] if claim else ""]
        for command, key, values in writes:
            keys.append(key)
            args += [command, len(values), *values]
        created, kept = await self.run("create", keys, args)
        return Creation(bool(created), bool(kept))

    def _creation_writes(
        self,
        user: UserKey,
        pledge_id: str,
        base: str,
        counters: Mapping[str, int],
        day: str,
        expiry: tuple[str, int] | None,
    ) -> list[Write]:
        """What recording a new pledge writes besides the record: (command, key, values)."""
        writes: list[Write] = []
        if expiry is not None:
            ref, due = expiry
            writes.append(("ZADD", self.keys.jobs(DUE_SETS[JobKind.EXPIRE]), (due, ref)))
        writes.append(("SADD", self.keys.pledgers(base), (user,)))
        writes.append(("SET", self.keys.pledge_owner(pledge_id), (user,)))
        writes.append(("PFADD", self.keys.people(day), (user,)))
        writes.append(("PFADD", self.keys.people(day, base), (user,)))
        stats = self.keys.stats(day)
        return writes + [("HINCRBY", stats, (name, n)) for name, n in counters.items()]

    async def _create_in_two(
        self,
        user: UserKey,
        pledge_id: str,
        record: str,
        claim: tuple[str, str] | None,
        writes: list[Write],
    ) -> Creation:
        """`create` on a cluster: the claim and the record, then the writes if it was new."""
        first = self.redis.pipeline(transaction=False)
        if claim:
            first.set(claim[0], claim[1], nx=True)
        first.hsetnx(self.keys.pledges(user), pledge_id, record)
        *claimed, created = await call(first.execute())
        kept = bool(claimed and claimed[0])
        if not created:
            if claim and kept:
                await call(self.redis.delete(claim[0]))
            return Creation(False, False)
        pipe = self.redis.pipeline(transaction=False)
        for command, key, values in writes:
            pipe.execute_command(command, key, *values)
        await call(pipe.execute())
        return Creation(True, kept)

    async def people(self, days: list[str], base: str = "") -> int:
        """About how many people pledged on these days (HyperLogLog, within 1%)."""
        if not days:
            return 0
        return int(await call(self.redis.pfcount(*[self.keys.people(d, base) for d in days])))

    async def owner(self, pledge_id: str) -> UserKey | None:
        """Whose pledge this id is (for the admin commands), or None."""
        found = await call(self.redis.get(self.keys.pledge_owner(pledge_id)))
        return UserKey(found) if found else None

    async def get(self, user: UserKey, pledge_id: str) -> str | None:
        """One pledge record, or None."""
        found = await call(self.redis.hget(self.keys.pledges(user), pledge_id))
        return str(found) if found is not None else None

    async def replace(self, user: UserKey, pledge_id: str, read: str, new: str) -> bool:
        """Replace a record if it is still `read`; False when it changed meanwhile."""
        return bool(await self.run("replace", [self.keys.pledges(user)], [pledge_id, read, new]))

    async def index_certificate(self, serial: str, user: UserKey, pledge_id: str) -> None:
        """Say which pledge a serial belongs to (before the pledge shows it: a serial whose
        pledge does not carry it is never shown)."""
        await call(self.redis.set(self.keys.certificate(serial), f"{user}\n{pledge_id}"))

    async def withdrawn(self, serial: str) -> bool:
        """Whether a serial's owner deleted their data (the serial stays, marked)."""
        return bool(await call(self.redis.get(self.keys.certificate(serial))) == WITHDRAWN)

    async def move(
        self, stored: StoredPledge, to: UserKey, record: str, serial: str, digest: str
    ) -> bool:
        """Move a pledge to another owner's hash (retention: to an anonymous one): the copy
        first, then the original is removed if it is still as read (else False, and the next
        run moves the newer record over the copy). The serial and the pledge id point to the
        new owner; the name index forgets the serial."""
        await call(self.redis.hset(self.keys.pledges(to), stored.pledge_id, record))
        removed = await self.run(
            "remove", [self.keys.pledges(stored.user_key)], [stored.pledge_id, stored.record]
        )
        if not removed:
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.pledge_owner(stored.pledge_id), to)
        if serial:
            pipe.set(self.keys.certificate(serial), f"{to}\n{stored.pledge_id}")
            pipe.srem(self.keys.certificate_name(digest), serial)
        await call(pipe.execute())
        return True

    async def leave_audience(self, user: UserKey, base: str) -> None:
        """The user no longer counts among the base's pledgers (for appeals by base)."""
        await call(self.redis.srem(self.keys.pledgers(base), user))

    async def index_name(self, digest: str, serial: str) -> None:
        """Remember that `serial` was issued to a name (its digest)."""
        await call(self.redis.sadd(self.keys.certificate_name(digest), serial))

    async def serials_of_name(self, digest: str, limit: int) -> list[str]:
        """The serials issued to a name (at most `limit`)."""
        found = await call(self.redis.sscan(self.keys.certificate_name(digest), count=limit))
        return [str(s) for s in found[1]][:limit]

    async def count(self, day: str, counters: Mapping[str, int]) -> None:
        """Add to a day's counters."""
        pipe = self.redis.pipeline(transaction=False)
        for name, amount in counters.items():
            pipe.hincrby(self.keys.stats(day), name, amount)
        await call(pipe.execute())

    async def of_user(self, user: UserKey) -> dict[str, str]:
        """All pledge records of a user, by pledge id."""
        return cast(dict[str, str], await call(self.redis.hgetall(self.keys.pledges(user))))

    async def of_users(self, users: list[UserKey]) -> list[dict[str, str]]:
        """The pledge records of several users, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.hgetall(self.keys.pledges(user))
        return cast(list[dict[str, str]], await call(pipe.execute()))

    async def by_serial(self, serial: str) -> StoredPledge | None:
        """The pledge a certificate serial belongs to, or None."""
        owner = await call(self.redis.get(self.keys.certificate(serial)))
        if not owner or "\n" not in owner:  # unknown, or withdrawn by its owner
            return None
        user, pledge_id = owner.split("\n", 1)
        record = await self.get(UserKey(user), pledge_id)
        return StoredPledge(UserKey(user), pledge_id, record) if record else None

    async def day_stats(self, day: str) -> dict[str, int]:
        """The counters of one day (YYYY-MM-DD): by event, base and form; trees, yuan."""
        raw = await call(self.redis.hgetall(self.keys.stats(day)))
        return {k: int(v) for k, v in raw.items()}

    async def days_stats(self, days: list[str]) -> dict[str, dict[str, int]]:
        """The counters of several days, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.keys.stats(day))
        found = await call(pipe.execute())
        return {
            day: {k: int(v) for k, v in raw.items()} for day, raw in zip(days, found, strict=True)
        }

    async def reindex(self) -> int:
        """Make the pledge-id and serial indexes of every stored pledge where they are missing;
        how many were made. A backup copies keys one by one, so a pledge confirmed or fulfilled
        while it ran can come without the index keys written a moment after the record; a
        restore ends with this (existing keys, such as a withdrawn serial, are left alone)."""
        made = 0
        batch: list[str] = []
        async for key in self.redis.scan_iter(match=self.keys.pledges("*"), count=500):
            batch.append(key)
            if len(batch) >= REINDEX_BATCH:
                made += await self._reindex(batch)
                batch = []
        return made + await self._reindex(batch)

    async def _reindex(self, batch: list[str]) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for key in batch:
            pipe.hvals(key)
        sets = self.redis.pipeline(transaction=False)
        for records in await call(pipe.execute()):
            for raw in records:
                record = json.loads(raw)
                user, pledge_id, serial = record["user_key"], record["id"], record.get("serial")
                sets.set(self.keys.pledge_owner(pledge_id), user, nx=True)
                if serial:
                    sets.set(self.keys.certificate(serial), f"{user}\n{pledge_id}", nx=True)
        return sum(bool(done) for done in await call(sets.execute()))

    async def every(self) -> AsyncIterator[list[str]]:
        """Every pledge record, a user's at a time (SCAN: for reports and exports, never for
        a chat turn)."""
        async for key in self.redis.scan_iter(match=self.keys.pledges("*"), count=500):
            records = await call(self.redis.hvals(key))
            yield list(records)
