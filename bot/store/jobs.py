"""The worker's queue: reminders and slot ends due at a time, and the outbox stream.

Due reminders and finished slots are claimed from sorted sets and queued on the outbox in one
script (`tp:{jobs}:...`), so two workers never take the same one. The outbox is read through a
consumer group; an entry a dead worker left is taken over, and a delivery mark taken right
before sending keeps an entry from reaching a user twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum
from typing import Any, ClassVar

from redis.exceptions import ResponseError

from bot.model import UserKey, immutable
from bot.store.base import Area, call
from bot.store.keys import DONE_TTL
from bot.store.records import load_record, stored_form

NOTICE_VERSION = 1

# KEYS: due set, outbox. ARGV: now, limit, kind. Claims what is due and queues it.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('XADD', KEYS[2], '*', 'kind', ARGV[3], 'ref', member)
end
return #due
"""


FORGET_BATCH = 500  # outbox entries read at a time when a user is forgotten


class JobKind(StrEnum):
    """What an outbox entry asks the worker to do."""

    REMINDER = "reminder"  # ref: slot id and user key, a line apart
    SLOT_END = "slot_end"  # ref: slot id
    NOTIFY = "notify"  # ref: a Notice as JSON
    EXPIRE = "expire"  # ref: user key and pledge id: expire it if still pledged
    ORDER = "order"  # ref: out_trade_no: ask WeChat Pay what became of an order


DUE_SETS = {  # timed jobs: the sorted set each waits in until it is due
    JobKind.REMINDER: "reminders",
    JobKind.SLOT_END: "slot_ends",
    JobKind.EXPIRE: "expiries",
    JobKind.ORDER: "orders",
}


@immutable
class Notice:
    """A message for one user, queued now and rendered in their language when it is sent."""

    user: str
    key: str
    params: dict[str, str | int] = field(default_factory=dict)
    certificate: str | None = None
    v: int = NOTICE_VERSION

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Notice:
        """Read a queued notice (older versions migrated)."""
        return load_record(cls, json.loads(raw), NOTICE_VERSION)


@immutable
class Job:
    """One outbox entry."""

    entry_id: str
    kind: JobKind | None  # None: a kind this version does not know (left by a newer one)
    ref: str

    def reminder(self) -> tuple[str, UserKey]:
        """The slot and user of a reminder."""
        slot_id, user = self.ref.split("\n", 1)
        return slot_id, UserKey(user)

    def pledge(self) -> tuple[UserKey, str]:
        """The owner and id of the pledge a job is about."""
        user, pledge_id = self.ref.split("\n", 1)
        return UserKey(user), pledge_id


class JobStore(Area):
    """Timed jobs and the outbox."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"claim": _CLAIM}

    async def schedule(self, kind: JobKind, ref: str, due: int) -> None:
        """Queue a timed job for `due` (epoch seconds); the same ref again moves it."""
        await call(self.redis.zadd(self.keys.jobs(DUE_SETS[kind]), {ref: due}))

    async def drop(self, kind: JobKind, ref: str) -> None:
        """Forget a timed job (a booking was cancelled, an order paid)."""
        await call(self.redis.zrem(self.keys.jobs(DUE_SETS[kind]), ref))

    async def schedule_reminder(self, slot_id: str, user: UserKey, due: int) -> None:
        """Queue a reminder for `due` (epoch seconds)."""
        await self.schedule(JobKind.REMINDER, f"{slot_id}\n{user}", due)

    async def drop_reminder(self, slot_id: str, user: UserKey) -> None:
        """Forget a reminder (the booking was cancelled)."""
        await self.drop(JobKind.REMINDER, f"{slot_id}\n{user}")

    async def claim_due(self, now: int, limit: int = 500) -> int:
        """Move every kind of due job onto the outbox; how many moved."""
        moved = 0
        for kind, name in DUE_SETS.items():
            keys = [self.keys.jobs(name), self.keys.jobs("outbox")]
            moved += int(await self.run("claim", keys, [now, limit, str(kind)]))
        return moved

    async def enqueue(self, kind: JobKind, ref: str) -> None:
        """Queue work for the worker."""
        fields = {"kind": str(kind), "ref": ref}
        await call(self.redis.xadd(self.keys.jobs("outbox"), fields))  # type: ignore[arg-type]

    async def notify(self, notice: Notice) -> None:
        """Queue a message to a user."""
        await self.enqueue(JobKind.NOTIFY, notice.to_json())

    async def forget(self, user: UserKey, pledge_ids: list[str]) -> None:
        """Drop what waits for a user who deleted their data: their pledges' expiries and
        every outbox entry that names them (the outbox holds only what is not yet sent)."""
        if pledge_ids:
            expiries = [f"{user}\n{pledge_id}" for pledge_id in pledge_ids]
            await call(self.redis.zrem(self.keys.jobs(DUE_SETS[JobKind.EXPIRE]), *expiries))
        outbox, start = self.keys.jobs("outbox"), "-"
        while True:
            batch = await call(self.redis.xrange(outbox, start, "+", count=FORGET_BATCH))
            naming = [entry_id for entry_id, fields in batch if user in fields.get("ref", "")]
            if naming:
                await call(self.redis.xdel(outbox, *naming))
            if len(batch) < FORGET_BATCH:
                return
            start = f"({batch[-1][0]}"

    async def ensure_group(self, group: str) -> None:
        """Create the outbox's consumer group once."""
        try:
            await self.redis.xgroup_create(self.keys.jobs("outbox"), group, id="0", mkstream=True)
        except ResponseError as exc:  # BUSYGROUP: it exists already
            if "BUSYGROUP" not in str(exc):
                raise

    async def take(
        self, group: str, consumer: str, count: int, block_ms: int, idle_ms: int
    ) -> list[Job]:
        """Entries for this consumer: first ones another consumer took and left idle too long
        (it died), then new ones."""
        outbox = self.keys.jobs("outbox")
        _, stale, *_ = await call(
            self.redis.xautoclaim(outbox, group, consumer, idle_ms, "0-0", count=count)
        )
        if stale:
            return [_job(entry_id, fields) for entry_id, fields in stale if fields]
        answer: Any = await call(
            # BLOCK 0 would wait for ever; 0 here means "do not wait"
            self.redis.xreadgroup(
                group, consumer, {outbox: ">"}, count=count, block=block_ms or None
            )
        )
        return [
            _job(entry_id, fields) for _, entries in (answer or []) for entry_id, fields in entries
        ]

    async def first_delivery(self, entry_id: str) -> bool:
        """Claim the delivery of an outbox entry; False if it was delivered before."""
        key = self.keys.delivered(entry_id)
        return bool(await call(self.redis.set(key, "1", nx=True, ex=DONE_TTL)))

    async def sizes(self) -> tuple[int, dict[JobKind, int]]:
        """Entries in the outbox, and timed jobs waiting for their time by kind."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xlen(self.keys.jobs("outbox"))
        for name in DUE_SETS.values():
            pipe.zcard(self.keys.jobs(name))
        outbox, *waiting = await call(pipe.execute())
        return int(outbox), {kind: int(n) for kind, n in zip(DUE_SETS, waiting, strict=True)}

    async def first_run_today(self, task: str, day: str) -> bool:
        """Claim a daily task (retention) for `day`; False when a worker has it already."""
        key = self.keys.jobs(f"daily:{task}:{day}")
        return bool(await call(self.redis.set(key, "1", nx=True, ex=DONE_TTL)))

    async def ack(self, group: str, entry_id: str) -> None:
        """The entry is handled."""
        outbox = self.keys.jobs("outbox")
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(outbox, group, entry_id)
        pipe.xdel(outbox, entry_id)
        await call(pipe.execute())


def _job(entry_id: str, fields: dict[str, str]) -> Job:
    try:
        kind: JobKind | None = JobKind(fields.get("kind", ""))
    except ValueError:
        kind = None
    return Job(entry_id, kind, fields.get("ref", ""))


class Daily:
    """A daily task (retention, the nightly backup) that one worker of all takes each day;
    each worker asks Redis at most once a day."""

    def __init__(self, jobs: JobStore, task: str) -> None:
        self.jobs = jobs
        self.task = task
        self._day = ""  # the day this worker last asked about

    async def claim(self, day: str) -> bool:
        """True for the one worker that takes `day`'s run, the first time it asks."""
        if day == self._day:
            return False
        self._day = day
        return await self.jobs.first_run_today(self.task, day)
