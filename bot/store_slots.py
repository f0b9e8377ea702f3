"""Redis keys and atomic operations for volunteer slots, bookings, check-ins and the jobs queue.

Each booking, cancellation and waitlist promotion is one Lua script over keys that share the
slot's hash tag (`tp:{slot:42}:meta`, `:booked`, `:waitlist`, `:attended`), so capacity can
never be exceeded and nobody is booked twice, on one Redis or on a cluster. Due reminders and
finished slots are claimed from sorted sets and queued on the outbox stream in one script
(`tp:{jobs}:...`), so two workers never take the same one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, cast

from bot.store import Store

NOTE_TTL = 30 * 24 * 3600  # messages waiting for a web or terminal user's next visit
DONE_TTL = 7 * 24 * 3600  # "this outbox entry was delivered" marks

# KEYS: meta, booked, waitlist. ARGV: user, code, now. -> {status, code?}
_BOOK = """
local meta = redis.call('HMGET', KEYS[1], 'status', 'start', 'capacity')
if not meta[1] then return {'unknown'} end
if meta[1] ~= 'open' then return {'cancelled'} end
if tonumber(ARGV[3]) >= tonumber(meta[2]) then return {'closed'} end
local have = redis.call('HGET', KEYS[2], ARGV[1])
if have then return {'already', have} end
if redis.call('HLEN', KEYS[2]) >= tonumber(meta[3]) then return {'full'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('LREM', KEYS[3], 0, ARGV[1])
return {'booked', ARGV[2]}
"""

# KEYS: meta, booked, waitlist. ARGV: user, now. -> {status, position?}
_WAIT = """
local meta = redis.call('HMGET', KEYS[1], 'status', 'start', 'capacity')
if not meta[1] then return {'unknown'} end
if meta[1] ~= 'open' then return {'cancelled'} end
if tonumber(ARGV[2]) >= tonumber(meta[2]) then return {'closed'} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {'already'} end
if redis.call('HLEN', KEYS[2]) < tonumber(meta[3]) then return {'free'} end
local at = redis.call('LPOS', KEYS[3], ARGV[1])
if not at then at = redis.call('RPUSH', KEYS[3], ARGV[1]) - 1 end
return {'waitlisted', at + 1}
"""

# KEYS: meta, booked, waitlist. ARGV: user, now, code for the promoted. -> {status, promoted?}
_CANCEL = """
local meta = redis.call('HMGET', KEYS[1], 'status', 'start')
if not meta[1] then return {'unknown'} end
if tonumber(ARGV[2]) >= tonumber(meta[2]) then return {'too_late'} end
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then
  if meta[1] == 'open' then
    local promoted = redis.call('LPOP', KEYS[3])
    if promoted then
      redis.call('HSET', KEYS[2], promoted, ARGV[3])
      return {'cancelled', promoted}
    end
  end
  return {'cancelled'}
end
if redis.call('LREM', KEYS[3], 0, ARGV[1]) > 0 then return {'left_waitlist'} end
return {'not_booked'}
"""

# KEYS: meta, booked, waitlist. -> every booked and waitlisted user, slot marked cancelled
_CANCEL_SLOT = """
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return false end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
local people = redis.call('HKEYS', KEYS[2])
for _, user in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do table.insert(people, user) end
return people
"""

# KEYS: booked, attended. ARGV: user. -> 'ok', 'already' or 'not_booked'
_CHECK_IN = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'not_booked' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'already' end
return 'ok'
"""

# KEYS: due set, outbox. ARGV: now, limit, kind. Claims what is due and queues it.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('XADD', KEYS[2], '*', 'kind', ARGV[3], 'ref', member)
end
return #due
"""


@dataclass(frozen=True, slots=True)
class Slot:
    """A time slot for volunteers at a base; times are UTC epoch seconds."""

    id: str
    base: str
    start: int
    end: int
    capacity: int
    task: str
    status: str = "open"
    booked: int = 0


@dataclass(frozen=True, slots=True)
class Booking:
    """A user's booking as they see it: which slot, the check-in code, where it stands."""

    slot: str
    code: str
    status: str  # booked, waitlisted, cancelled, attended, no_show
    name: str = ""
    locale: str = "zh"

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a slot script answered: a status word and what came with it."""

    status: str
    detail: str | None = None


def _slot(slot_id: str, meta: dict[str, str], booked: int) -> Slot | None:
    if not meta:
        return None
    return Slot(
        slot_id,
        meta["base"],
        int(meta["start"]),
        int(meta["end"]),
        int(meta["capacity"]),
        meta["task"],
        meta["status"],
        int(booked),
    )


class SlotStore:
    """Slots, bookings, check-in codes and the jobs queue, over the bot's Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.prefix = store.prefix
        self._book = self.redis.register_script(_BOOK)
        self._wait = self.redis.register_script(_WAIT)
        self._cancel = self.redis.register_script(_CANCEL)
        self._cancel_slot = self.redis.register_script(_CANCEL_SLOT)
        self._check_in = self.redis.register_script(_CHECK_IN)
        self._claim = self.redis.register_script(_CLAIM)

    # -- keys ---------------------------------------------------------------------------------

    def _slot(self, slot_id: str, name: str) -> str:
        return f"{self.prefix}{{slot:{slot_id}}}:{name}"

    def _keys(self, slot_id: str) -> list[str]:
        return [self._slot(slot_id, n) for n in ("meta", "booked", "waitlist")]

    def _index(self, base: str | None = None) -> str:
        suffix = f"base:{base}" if base else "all"
        return f"{self.prefix}slots:{suffix}"  # no TTL: the schedule

    def _jobs(self, name: str) -> str:
        return f"{self.prefix}{{jobs}}:{name}"

    def _code(self, code: str) -> str:
        return f"{self.prefix}checkin:{code}"  # no TTL: a record of the booking

    def _bookings(self, user_key: str) -> str:
        return self.store.user_field(user_key, "bookings")  # no TTL: the user's record

    # -- slots --------------------------------------------------------------------------------

    async def add_slot(self, base: str, start: int, end: int, capacity: int, task: str) -> Slot:
        """Create a slot; it is indexed by start time, overall and per base."""
        slot_id = str(await self.store.call(self.redis.incr(f"{self.prefix}slots:next")))
        meta = {
            "base": base,
            "start": start,
            "end": end,
            "capacity": capacity,
            "task": task,
            "status": "open",
        }
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._slot(slot_id, "meta"), mapping=meta)
        pipe.zadd(self._index(), {slot_id: start})
        pipe.zadd(self._index(base), {slot_id: start})
        pipe.zadd(self._jobs("slot_ends"), {slot_id: end})
        await self.store.call(pipe.execute())
        return Slot(slot_id, base, start, end, capacity, task)

    async def slots(self, start: int, until: int, base: str | None = None) -> list[Slot]:
        """Slots starting in [start, until], earliest first, with their booked counts (two
        round trips however many slots there are)."""
        ids = await self.store.call(self.redis.zrangebyscore(self._index(base), start, until))
        return [s for s in await self._load(ids) if s is not None]

    async def slot(self, slot_id: str) -> Slot | None:
        """One slot, or None."""
        (found,) = await self._load([slot_id])
        return found

    async def _load(self, ids: list[str]) -> list[Slot | None]:
        pipe = self.redis.pipeline(transaction=False)
        for slot_id in ids:
            pipe.hgetall(self._slot(slot_id, "meta"))
            pipe.hlen(self._slot(slot_id, "booked"))
        answers = await self.store.call(pipe.execute())
        return [
            _slot(slot_id, meta, booked)
            for slot_id, meta, booked in zip(ids, answers[::2], answers[1::2], strict=True)
        ]

    async def volunteers(self, slot_id: str) -> dict[str, str]:
        """Booked users of a slot and their check-in codes."""
        return cast(
            dict[str, str],
            await self.store.call(self.redis.hgetall(self._slot(slot_id, "booked"))),
        )

    async def attended(self, slot_id: str) -> set[str]:
        """Users checked in at a slot."""
        return cast(
            set[str], await self.store.call(self.redis.smembers(self._slot(slot_id, "attended")))
        )

    async def waitlist(self, slot_id: str) -> list[str]:
        """Users waiting for a place, first first."""
        return cast(
            list[str],
            await self.store.call(self.redis.lrange(self._slot(slot_id, "waitlist"), 0, -1)),
        )

    async def cancel_slot(self, slot_id: str) -> list[str] | None:
        """Cancel a slot; the users who were booked or waiting (None if not open)."""
        people = await self.store.call(self._cancel_slot(keys=self._keys(slot_id)))
        return None if people is None else list(people)

    # -- bookings -----------------------------------------------------------------------------

    async def book(self, slot_id: str, user_key: str, code: str, now: int) -> Outcome:
        """Take a place if one is free: booked, already, full, closed, cancelled or unknown."""
        result = await self.store.call(
            self._book(keys=self._keys(slot_id), args=[user_key, code, now])
        )
        return Outcome(result[0], result[1] if len(result) > 1 else None)

    async def join_waitlist(self, slot_id: str, user_key: str, now: int) -> Outcome:
        """Wait for a place: waitlisted (with the position), free, already, closed..."""
        result = await self.store.call(self._wait(keys=self._keys(slot_id), args=[user_key, now]))
        return Outcome(result[0], str(result[1]) if len(result) > 1 else None)

    async def cancel(self, slot_id: str, user_key: str, now: int, promo_code: str) -> Outcome:
        """Give up a place (the first waiting user gets it, as `detail`) or leave the list."""
        result = await self.store.call(
            self._cancel(keys=self._keys(slot_id), args=[user_key, now, promo_code])
        )
        return Outcome(result[0], result[1] if len(result) > 1 else None)

    async def check_in(self, slot_id: str, user_key: str) -> str:
        """Mark attendance: ok, already or not_booked."""
        keys = [self._slot(slot_id, "booked"), self._slot(slot_id, "attended")]
        return str(await self.store.call(self._check_in(keys=keys, args=[user_key])))

    async def save_booking(self, user_key: str, booking: Booking) -> None:
        """Record a booking in the user's list (and its check-in code in the index)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._bookings(user_key), booking.slot, booking.to_json())
        pipe.set(self._code(booking.code), f"{booking.slot}\n{user_key}")
        await self.store.call(pipe.execute())

    async def bookings(self, user_key: str) -> dict[str, Booking]:
        """The user's bookings by slot id."""
        raw = await self.store.call(self.redis.hgetall(self._bookings(user_key)))
        return {slot: Booking(**json.loads(value)) for slot, value in raw.items()}

    async def by_code(self, code: str) -> tuple[str, str] | None:
        """The slot and user of a check-in code, or None."""
        found = await self.store.call(self.redis.get(self._code(code.strip().upper())))
        if not found:
            return None
        slot_id, user_key = str(found).split("\n", 1)
        return slot_id, user_key

    # -- jobs ---------------------------------------------------------------------------------

    async def schedule_reminder(self, slot_id: str, user_key: str, due: int) -> None:
        """Queue a reminder for `due` (epoch seconds)."""
        await self.store.call(
            self.redis.zadd(self._jobs("reminders"), {f"{slot_id}\n{user_key}": due})
        )

    async def drop_reminder(self, slot_id: str, user_key: str) -> None:
        """Forget a reminder (the booking was cancelled)."""
        await self.store.call(self.redis.zrem(self._jobs("reminders"), f"{slot_id}\n{user_key}"))

    async def claim_due(self, now: int, limit: int = 500) -> int:
        """Move due reminders and finished slots onto the outbox; how many moved."""
        moved = 0
        for name, kind in (("reminders", "reminder"), ("slot_ends", "slot_end")):
            keys = [self._jobs(name), self._jobs("outbox")]
            moved += int(await self.store.call(self._claim(keys=keys, args=[now, limit, kind])))
        return moved

    async def enqueue(self, kind: str, ref: str) -> None:
        """Queue work for the worker (a notification, for one)."""
        await self.store.call(self.redis.xadd(self._jobs("outbox"), {"kind": kind, "ref": ref}))

    async def ensure_group(self, group: str) -> None:
        """Create the outbox's consumer group once."""
        try:
            await self.redis.xgroup_create(self._jobs("outbox"), group, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(exc):
                raise

    async def take(
        self, group: str, consumer: str, count: int, block_ms: int, idle_ms: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries for this consumer: first ones another consumer took and left idle too long
        (it died), then new ones."""
        outbox = self._jobs("outbox")
        _, stale, *_ = await self.store.call(
            self.redis.xautoclaim(outbox, group, consumer, idle_ms, "0-0", count=count)
        )
        if stale:
            return [(entry_id, fields) for entry_id, fields in stale if fields]
        answer: Any = await self.store.call(
            # BLOCK 0 would wait for ever; 0 here means "do not wait"
            self.redis.xreadgroup(
                group, consumer, {outbox: ">"}, count=count, block=block_ms or None
            )
        )
        return [
            (entry_id, fields) for _, entries in (answer or []) for entry_id, fields in entries
        ]

    async def first_delivery(self, entry_id: str) -> bool:
        """Claim the delivery of an outbox entry; False if it was delivered before."""
        key = self._jobs(f"done:{entry_id}")
        return bool(await self.store.call(self.redis.set(key, "1", nx=True, ex=DONE_TTL)))

    async def ack(self, group: str, entry_id: str) -> None:
        """The entry is handled."""
        outbox = self._jobs("outbox")
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(outbox, group, entry_id)
        pipe.xdel(outbox, entry_id)
        await self.store.call(pipe.execute())

    # -- notes for users the bot cannot push to -----------------------------------------------

    async def leave_note(self, user_key: str, text: str) -> None:
        """Keep a message for a web or terminal user; the engine shows it at their next turn."""
        key = self.store.user_field(user_key, "notes")
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, text)
        pipe.expire(key, NOTE_TTL)
        await self.store.call(pipe.execute())
