"""Volunteer slots, bookings and check-in codes.

Each booking, cancellation and waitlist promotion is one Lua script over keys that share the
slot's hash tag (`tp:{slot:42}:meta`, `:booked`, `:waitlist`, `:attended`), so capacity can
never be exceeded and nobody is booked twice, on one Redis or on a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from enum import StrEnum
from typing import ClassVar, cast

from bot.model import UserKey, immutable
from bot.store.base import Area, call
from bot.store.records import load_record, stored_form

BOOKING_VERSION = 1


class SlotStatus(StrEnum):
    """Whether a slot takes bookings."""

    OPEN = "open"
    CANCELLED = "cancelled"


class BookingStatus(StrEnum):
    """Where a user's booking stands."""

    BOOKED = "booked"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


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

# KEYS: booked, attended, checked_in_at, waitlist. ARGV: user, pseudonym.
# The user's place (and attendance) kept under a pseudonym, so counts stay; gone from the list.
_FORGET = """
local code = redis.call('HGET', KEYS[1], ARGV[1])
if code then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[1], ARGV[2], code)
end
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then redis.call('SADD', KEYS[2], ARGV[2]) end
local at = redis.call('HGET', KEYS[3], ARGV[1])
if at then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[2], at)
end
redis.call('LREM', KEYS[4], 0, ARGV[1])
return 1
"""

# KEYS: booked, attended, checked_in_at. ARGV: user, now.
# -> 'ok', 'already' with the first check-in's time, or 'not_booked'
_CHECK_IN = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'not_booked', ''} end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return {'already', redis.call('HGET', KEYS[3], ARGV[1]) or ''}
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return {'ok', ARGV[2]}
"""


@immutable
class Slot:
    """A time slot for volunteers at a base; times are UTC epoch seconds."""

    id: str
    base: str
    start: int
    end: int
    capacity: int
    task: str
    status: SlotStatus = SlotStatus.OPEN
    booked: int = 0

    @property
    def left(self) -> int:
        """Places still free."""
        return max(0, self.capacity - self.booked)


@immutable
class Booking:
    """A user's booking as they see it: which slot, the check-in code, where it stands."""

    slot: str
    code: str
    status: BookingStatus
    name: str = ""
    locale: str = "zh"
    pledge: str = ""  # the pledge this booking fulfils when attended (afforestation, say)
    v: int = BOOKING_VERSION

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Booking:
        """Read a stored record (older versions migrated)."""
        booking = load_record(cls, json.loads(raw), BOOKING_VERSION)
        return replace(booking, status=BookingStatus(booking.status))


@immutable
class Volunteer:
    """One person on a slot's roster."""

    user_key: UserKey
    code: str
    name: str
    attended: bool


@immutable
class SlotOutcome:
    """What a slot script answered: a status word and what came with it."""

    status: str
    detail: str | None = None


def _slot(slot_id: str, meta: dict[str, str], booked: int) -> Slot | None:
    if not meta:
        return None
    return Slot(
        id=slot_id,
        base=meta["base"],
        start=int(meta["start"]),
        end=int(meta["end"]),
        capacity=int(meta["capacity"]),
        task=meta["task"],
        status=SlotStatus(meta["status"]),
        booked=int(booked),
    )


class SlotStore(Area):
    """Slots, bookings and check-in codes."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {
        "book": _BOOK,
        "wait": _WAIT,
        "cancel": _CANCEL,
        "cancel_slot": _CANCEL_SLOT,
        "check_in": _CHECK_IN,
        "forget": _FORGET,
    }

    def _keys(self, slot_id: str) -> list[str]:
        return [self.keys.slot(slot_id, n) for n in ("meta", "booked", "waitlist")]

    # -- slots --------------------------------------------------------------------------------

    async def add_slot(
        self, base: str, start: int, end: int, capacity: int, task: str, closes: int
    ) -> Slot:
        """Create a slot; it is indexed by start time, overall and per base, and its closing
        (when check-in ends: the booked who did not come are no-shows) is queued for the
        worker."""
        slot_id = str(await call(self.redis.incr(self.keys.slot_counter())))
        slot = Slot(slot_id, base, start, end, capacity, task)
        meta = {k: v for k, v in asdict(slot).items() if k not in ("id", "booked")}
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.slot(slot_id, "meta"), mapping=meta)
        pipe.zadd(self.keys.slot_index(), {slot_id: start})
        pipe.zadd(self.keys.slot_index(base), {slot_id: start})
        pipe.zadd(self.keys.jobs("slot_ends"), {slot_id: closes})
        await call(pipe.execute())
        return slot

    async def slots(
        self,
        start: int,
        until: int,
        base: str | None = None,
        offset: int = 0,
        count: int | None = None,
    ) -> list[Slot]:
        """Slots starting in [start, until], earliest first (from the `offset`th, at most
        `count` of them), with their booked counts: two round trips. Slots that start at the
        same time come in the order they were added (Redis alone would order their ids as
        text: "10" before "9")."""
        index = self.keys.slot_index(base)
        paged = (offset, count) if count is not None else (None, None)
        ids = await call(self.redis.zrangebyscore(index, start, until, *paged))
        found = [s for s in await self._load(ids) if s is not None]
        return sorted(found, key=lambda s: (s.start, len(s.id), s.id))

    async def slot(self, slot_id: str) -> Slot | None:
        """One slot, or None."""
        (found,) = await self._load([slot_id])
        return found

    async def _load(self, ids: list[str]) -> list[Slot | None]:
        pipe = self.redis.pipeline(transaction=False)
        for slot_id in ids:
            pipe.hgetall(self.keys.slot(slot_id, "meta"))
            pipe.hlen(self.keys.slot(slot_id, "booked"))
        answers = await call(pipe.execute())
        return [
            _slot(slot_id, meta, booked)
            for slot_id, meta, booked in zip(ids, answers[::2], answers[1::2], strict=True)
        ]

    async def volunteers(self, slot_id: str) -> dict[str, str]:
        """Booked users of a slot and their check-in codes."""
        return cast(
            dict[str, str], await call(self.redis.hgetall(self.keys.slot(slot_id, "booked")))
        )

    async def attended(self, slot_id: str) -> set[str]:
        """Users checked in at a slot."""
        return cast(set[str], await call(self.redis.smembers(self.keys.slot(slot_id, "attended"))))

    async def attended_counts(self, slot_ids: list[str]) -> list[int]:
        """How many checked in at each slot, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for slot_id in slot_ids:
            pipe.scard(self.keys.slot(slot_id, "attended"))
        return [int(n) for n in await call(pipe.execute())] if slot_ids else []

    async def waitlist(self, slot_id: str) -> list[str]:
        """Users waiting for a place, first first."""
        key = self.keys.slot(slot_id, "waitlist")
        return cast(list[str], await call(self.redis.lrange(key, 0, -1)))

    async def roster(self, slot_id: str) -> tuple[list[Volunteer], int]:
        """Who is booked (with their names and whether they came) and how many wait: two
        round trips however many volunteers there are."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.slot(slot_id, "booked"))
        pipe.smembers(self.keys.slot(slot_id, "attended"))
        pipe.llen(self.keys.slot(slot_id, "waitlist"))
        booked, attended, waiting = await call(pipe.execute())
        users = [UserKey(u) for u in booked]
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.hget(self.keys.bookings(user), slot_id)
        records = await call(pipe.execute()) if users else []
        roster = [
            Volunteer(
                user, booked[user], Booking.from_json(raw).name if raw else "", user in attended
            )
            for user, raw in zip(users, records, strict=True)
        ]
        return roster, int(waiting)

    async def cancel_slot(self, slot_id: str) -> list[UserKey] | None:
        """Cancel a slot; the users who were booked or waiting (None if not open)."""
        people = await self.run("cancel_slot", self._keys(slot_id))
        return None if people is None else [UserKey(p) for p in people]

    # -- bookings -----------------------------------------------------------------------------

    async def book(self, slot_id: str, user: UserKey, code: str, now: int) -> SlotOutcome:
        """Take a place if one is free: booked, already, full, closed, cancelled or unknown."""
        result = await self.run("book", self._keys(slot_id), [user, code, now])
        return SlotOutcome(result[0], result[1] if len(result) > 1 else None)

    async def join_waitlist(self, slot_id: str, user: UserKey, now: int) -> SlotOutcome:
        """Wait for a place: waitlisted (with the position), free, already, closed..."""
        result = await self.run("wait", self._keys(slot_id), [user, now])
        return SlotOutcome(result[0], str(result[1]) if len(result) > 1 else None)

    async def cancel(self, slot_id: str, user: UserKey, now: int, promo_code: str) -> SlotOutcome:
        """Give up a place (the first waiting user gets it, as `detail`) or leave the list."""
        result = await self.run("cancel", self._keys(slot_id), [user, now, promo_code])
        return SlotOutcome(result[0], result[1] if len(result) > 1 else None)

    async def check_in(self, slot_id: str, user: UserKey, now: int) -> tuple[str, int | None]:
        """Mark attendance: ok, already (with when it was first marked, when known) or
        not_booked."""
        keys = [
            self.keys.slot(slot_id, "booked"),
            self.keys.slot(slot_id, "attended"),
            self.keys.slot(slot_id, "checked_in_at"),
        ]
        status, at = await self.run("check_in", keys, [user, now])
        return str(status), int(at) if at else None

    async def forget(self, user: UserKey, bookings: Mapping[str, Booking], pseudonym: str) -> None:
        """Take a user's name out of their slots: a place or attendance they held stays, under
        `pseudonym`, so the slots' counts hold; their check-in codes go."""
        for slot_id, booking in bookings.items():
            keys = [
                self.keys.slot(slot_id, part)
                for part in ("booked", "attended", "checked_in_at", "waitlist")
            ]
            await self.run("forget", keys, [user, pseudonym])
            if booking.code:
                await call(self.redis.delete(self.keys.checkin(booking.code)))

    async def save_booking(self, user: UserKey, booking: Booking) -> None:
        """Record a booking in the user's list (and its check-in code in the index)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.bookings(user), booking.slot, booking.to_json())
        pipe.set(self.keys.checkin(booking.code), f"{booking.slot}\n{user}")
        await call(pipe.execute())

    async def bookings(self, user: UserKey) -> dict[str, Booking]:
        """The user's bookings by slot id."""
        raw = await call(self.redis.hgetall(self.keys.bookings(user)))
        return {slot: Booking.from_json(value) for slot, value in raw.items()}

    async def bookings_of(self, users: list[UserKey]) -> list[dict[str, Booking]]:
        """The bookings of several users by slot id, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.hgetall(self.keys.bookings(user))
        found = await call(pipe.execute())
        return [{slot: Booking.from_json(raw) for slot, raw in each.items()} for each in found]

    async def slots_by_id(self, ids: list[str]) -> list[Slot | None]:
        """Several slots in one round trip (None where one is gone)."""
        return await self._load(ids)

    async def booking(self, user: UserKey, slot_id: str) -> Booking | None:
        """The user's booking of one slot, if any."""
        raw = await call(self.redis.hget(self.keys.bookings(user), slot_id))
        return Booking.from_json(raw) if raw else None

    async def by_code(self, code: str) -> tuple[str, UserKey] | None:
        """The slot and user of a check-in code, or None."""
        found = await call(self.redis.get(self.keys.checkin(code.strip().upper())))
        if not found:
            return None
        slot_id, user = str(found).split("\n", 1)
        return slot_id, UserKey(user)
