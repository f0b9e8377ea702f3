"""Planting appeals: create, size the audience, list, cancel, and the bookkeeping of delivery.

This is the core's side of appeals: it knows no channel. The worker's delivery loop
(`bot/worker/appeals.py`) takes due appeals from here and sends them through the output port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

from bot import i18n
from bot.catalog import Catalog
from bot.errors import CommandError
from bot.model import Channel, UserKey
from bot.services.pledges import Pledge, PledgeStatus
from bot.store import Store
from bot.store.blobs import Blobs, moving
from bot.store.broadcasts import (
    AppealStatus,
    AudienceChannel,
    AudienceDuty,
    AudienceLang,
    Broadcast,
    BroadcastStore,
    Result,
)
from bot.store.jobs import Notice
from bot.store.keys import WORKER_ALIVE_S

CHANNELS = tuple(Channel)
MASS_PER_MONTH = 4  # a WeChat service account's mass sends a month
RECENT = 50  # appeals looked at for due work
UNFINISHED = (AppealStatus.SCHEDULED, AppealStatus.SENDING)


def image_name(bc_id: str) -> str:
    """An appeal's image among the blobs."""
    return f"appeals/{bc_id}.image"


async def read_image(store: BroadcastStore, blobs: Blobs, bc_id: str) -> bytes | None:
    """An appeal's image; one an older version kept in Redis moves to the blobs as it is read."""
    old, drop = partial(store.old_image, bc_id), partial(store.drop_old_image, bc_id)
    return await moving(blobs, image_name(bc_id), old, drop)


class Appeals:
    """The appeals service: flows, the command line and the worker's delivery loop use it."""

    def __init__(self, store: Store, blobs: Blobs, catalog: Catalog) -> None:
        self.store = store.broadcasts
        self.pledge_records = store.pledges
        self.teams = store.teams
        self.slots = store.slots
        self.blobs = blobs
        self.users = store.users
        self.jobs = store.jobs
        self.catalog = catalog

    # -- creating -----------------------------------------------------------------------------

    async def create(self, draft: Broadcast, image: bytes | None = None) -> Broadcast:
        """Check and store an appeal, with its audience size counted now."""
        if draft.channel not in tuple(AudienceChannel):
            raise CommandError("channel must be telegram, wechat or all")
        if draft.lang not in tuple(AudienceLang):
            raise CommandError("lang must be zh, en or all")
        if draft.base and self.catalog.base(draft.base) is None:
            raise CommandError(f"unknown base {draft.base!r}")
        if not (draft.text_zh.strip() or draft.text_en.strip()):
            raise CommandError("the appeal needs a text")
        if draft.team and await self.teams.get(draft.team) is None:
            raise CommandError(f"unknown team {draft.team!r}")
        if draft.wechat_mass and draft.duty != AudienceDuty.ALL:
            raise CommandError(
                "WeChat's mass send reaches every follower: it cannot be narrowed by duty"
            )
        month = self.catalog.local(datetime.now(UTC)).strftime("%Y-%m")
        if draft.wechat_mass and not await self.store.take_mass_quota(month, MASS_PER_MONTH):
            raise CommandError(f"the WeChat mass-send quota ({MASS_PER_MONTH} a month) is used")
        total = await self.audience_size(draft)
        bc_id = await self.store.next_id()
        if image:  # kept before the appeal exists: a worker may start on it at once
            await self.blobs.put(image_name(bc_id), image)
        bc = await self.store.create(bc_id, draft)
        await self.store.set_total(bc.id, total)
        return await self.store.get(bc.id) or bc

    async def audience_size(self, draft: Broadcast) -> int:
        """How many subscribers the appeal would reach (read in batches)."""
        total = 0
        async for batch in self.recipients(draft):
            total += len(batch)
        return total

    async def recipients(self, bc: Broadcast) -> AsyncIterator[list[UserKey]]:
        """The audience, a batch at a time: subscribers of the channel(s), who pledged at the
        base if one is given, in the language if one is given, with the duty left if one is
        given."""
        channels = CHANNELS if bc.channel == AudienceChannel.ALL else (str(bc.channel),)
        sources = (
            [self._members(bc.team)]
            if bc.team
            else [self.users.pledgers(bc.base)]
            if bc.base
            else [self.users.subscribers(c) for c in channels]
        )
        for source in sources:
            async for batch in source:
                chosen = [u for u in batch if u.channel in channels]
                if (bc.base or bc.team) and chosen:
                    flags = await self.users.subscribed(chosen)
                    chosen = [u for u, ok in zip(chosen, flags, strict=True) if ok]
                if bc.lang != AudienceLang.ALL and chosen:
                    chosen = await self._speaking(chosen, bc.lang)
                if bc.duty != AudienceDuty.ALL and chosen:
                    chosen = await self._with_duty_left(chosen, bc.duty)
                if chosen:
                    yield chosen

    async def _members(self, code: str) -> AsyncIterator[list[UserKey]]:
        """A team's members, a batch at a time (a team has at most a few hundred)."""
        members = sorted(await self.teams.members(code))
        for start in range(0, len(members), 200):
            yield [UserKey(m) for m in members[start : start + 200]]

    async def _with_duty_left(self, users: list[UserKey], duty: AudienceDuty) -> list[UserKey]:
        """Those of `users` with this duty left: a pledge not fulfilled, fewer trees fulfilled
        this year than the duty's, or no slot booked this year."""
        year = self.catalog.local(datetime.now(UTC)).year
        if duty == AudienceDuty.UNBOOKED:
            booked = await self.slots.bookings_of(users)
            ids = sorted({slot for each in booked for slot in each})
            starts = {s.id: s.start for s in await self.slots.slots_by_id(ids) if s is not None}

            def this_year(slot: str) -> bool:
                start = starts.get(slot)
                zone = self.catalog.timezone
                return start is not None and datetime.fromtimestamp(start, zone).year == year

            return [u for u, b in zip(users, booked, strict=True) if not any(map(this_year, b))]
        records = await self.pledge_records.of_users(users)
        chosen = []
        for user, raw in zip(users, records, strict=True):
            pledges = [Pledge.from_json(r) for r in raw.values()]
            if duty == AudienceDuty.OPEN:
                left = any(p.status == PledgeStatus.PLEDGED for p in pledges)
            else:
                done = sum(
                    p.trees
                    for p in pledges
                    if p.status == PledgeStatus.FULFILLED
                    and self.catalog.local(p.created).year == year
                )
                left = done < self.catalog.rules.duty_min_trees
            if left:
                chosen.append(user)
        return chosen

    async def _speaking(self, users: list[UserKey], lang: str) -> list[UserKey]:
        locales = await self.users.locales(users)
        return [
            u for u, lo in zip(users, locales, strict=True) if (lo or i18n.DEFAULT_LOCALE) == lang
        ]

    # -- looking and cancelling ----------------------------------------------------------------

    async def get(self, bc_id: str) -> Broadcast | None:
        """One appeal with its counters, or None."""
        return await self.store.get(bc_id)

    async def recent(self, limit: int = 20) -> list[Broadcast]:
        """The latest appeals, newest first."""
        return await self.store.recent(limit)

    async def cancel(self, bc_id: str) -> bool:
        """Stop an appeal that has not finished."""
        return await self.store.set_status(bc_id, AppealStatus.CANCELLED, UNFINISHED)

    # -- the bookkeeping of delivery -----------------------------------------------------------

    async def due(self, now: int) -> list[Broadcast]:
        """Appeals to send now: those sending, and those scheduled for now or earlier."""
        return [
            bc
            for bc in await self.store.recent(RECENT)
            if bc.status == AppealStatus.SENDING
            or (bc.status == AppealStatus.SCHEDULED and bc.at <= now)
        ]

    async def start(self, bc: Broadcast) -> None:
        """Mark an appeal as sending (once)."""
        await self.store.set_status(bc.id, AppealStatus.SENDING, (AppealStatus.SCHEDULED,))

    async def is_cancelled(self, bc: Broadcast) -> bool:
        """Whether the appeal was cancelled (or removed) meanwhile."""
        current = await self.store.get(bc.id)
        return current is None or current.status == AppealStatus.CANCELLED

    async def image(self, bc: Broadcast) -> bytes | None:
        """The appeal's image, if it has one."""
        return await read_image(self.store, self.blobs, bc.id)

    async def claim(self, bc: Broadcast, recipient: str, worker: str) -> bool:
        """Take a recipient for sending; False if a worker took them before."""
        return await self.store.claim(bc.id, recipient, worker)

    async def finish(self, bc: Broadcast, recipient: str, result: Result) -> None:
        """Record what became of a claimed recipient."""
        await self.store.finish(bc.id, recipient, result)

    async def beat(self, worker: str) -> None:
        """A worker says it is alive: its claims are not taken for a dead worker's."""
        await self.store.beat(worker, WORKER_ALIVE_S)

    async def settle(self, bc: Broadcast) -> bool:
        """After a worker went through the whole audience: recipients claimed by workers that
        died count as unknown, and the appeal is done (and reported) once nothing is in
        flight. True when it is done."""
        await self.store.mark_swept(bc.id)
        current = await self.store.get(bc.id)
        if current is None or current.status != AppealStatus.SENDING:
            return False
        if current.inflight > 0:
            await self._give_up_dead_claims(bc)
            current = await self.store.get(bc.id)
            if current is None or current.inflight > 0:
                return False  # a living worker is sending; it settles when done
        return await self._complete(bc)

    async def _give_up_dead_claims(self, bc: Broadcast) -> None:
        claims = [claim async for claim in self.store.claims(bc.id)]
        workers = sorted({worker for _, worker in claims if worker})
        living = {w for w, ok in zip(workers, await self.store.alive(workers), strict=True) if ok}
        for recipient, worker in claims:
            if worker not in living:  # the worker died mid-send: it may or may not have arrived
                await self.store.finish(bc.id, recipient, Result.UNKNOWN, worker or None)

    async def _complete(self, bc: Broadcast) -> bool:
        """Mark the appeal done (once) and queue the report for the admin who made it."""
        if not await self.store.set_status(bc.id, AppealStatus.DONE, (AppealStatus.SENDING,)):
            return False
        done = await self.store.get(bc.id)
        if done is None or not done.creator:
            return True
        params: dict[str, str | int] = {"id": done.id}
        params |= {str(r): done.counts.get(r, 0) for r in Result}
        await self.jobs.notify(Notice(done.creator, "broadcast.report", params))
        return True
