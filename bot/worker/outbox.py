"""The outbox: reminders, finished slots, notices, expiries and order checks, from Redis.

Due reminders and finished slots are claimed from sorted sets onto the outbox stream in one
script, so two workers never take the same one. The outbox is read through a consumer group:
an entry a dead worker left unacknowledged is taken over after IDLE_MS. A delivery mark taken
just before sending keeps an entry from reaching a user twice (a crash between the mark and the
send loses that one message rather than doubling it). Messages are rendered by the notices
service and leave through the output port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import UTC, datetime
from typing import assert_never

from bot import logs
from bot.channels.port import Port
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.pledges import PledgeStatus
from bot.store.claims import ClaimStatus
from bot.store.jobs import Job, JobKind, Notice
from bot.worker.schedules import Retention

log = logging.getLogger(__name__)

GROUP = "senders"
BATCH = 50
BLOCK_MS = 1000
IDLE_MS = 60_000  # an entry unacknowledged this long belonged to a worker that died
TICK_S = 1.0


class Worker:
    """One worker of the outbox; any number may run against one Redis."""

    def __init__(self, runtime: Runtime, port: Port, name: str | None = None) -> None:
        self.runtime = runtime
        self.port = port
        self.jobs = runtime.store.jobs
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.retention = Retention(runtime)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set (a round that fails, Redis away, is tried again)."""
        while not stop.is_set():
            try:
                await self.run_once(block_ms=BLOCK_MS)
            except Exception:
                log.exception("worker round failed; trying again")
                await asyncio.sleep(TICK_S)

    async def run_once(self, block_ms: int = 0) -> int:
        """Claim what is due, then handle one batch of the outbox; how many entries handled.
        Once a day one worker runs retention first."""
        await self.jobs.ensure_group(GROUP)
        await self.retention.due(datetime.now(UTC))
        await self.jobs.claim_due(int(time.time()))
        entries = await self.jobs.take(GROUP, self.name, BATCH, block_ms, IDLE_MS)
        for job in entries:
            if await self.jobs.first_delivery(job.entry_id):
                await self._handle(job)
            await self.jobs.ack(GROUP, job.entry_id)
        return len(entries)

    async def _handle(self, job: Job) -> None:
        token = logs.REQUEST_ID.set(f"job-{job.entry_id}")
        try:
            await self._do(job)
        except Exception:  # one bad entry must not stop the others
            log.exception("outbox entry %s failed", job.kind)
        finally:
            logs.REQUEST_ID.reset(token)

    async def _do(self, job: Job) -> None:
        runtime = self.runtime
        match job.kind:
            case None:
                log.warning("outbox entry %s of a kind this version does not know", job.entry_id)
            case JobKind.REMINDER:
                slot_id, user = job.reminder()
                message = await runtime.notices.reminder(slot_id, user)
                if message is not None:
                    await self.port.push(user, [message])
            case JobKind.SLOT_END:
                await runtime.bookings.close(job.ref)
            case JobKind.NOTIFY:
                notice = Notice.from_json(job.ref)
                await self.port.push(UserKey(notice.user), [await runtime.notices.of(notice)])
            case JobKind.EXPIRE:
                await self._expire(*job.pledge())
            case JobKind.ORDER:
                await runtime.payments.check(job.ref, int(time.time()))
            case _:
                assert_never(job.kind)

    async def _expire(self, user: UserKey, pledge_id: str) -> None:
        """A pledge's time is up: expired if still waiting (and not under review), and its
        order closed."""
        pledges = self.runtime.pledges
        pledge = await pledges.get(user, pledge_id)
        claim = await self.runtime.claims.of(pledge) if pledge else None
        if claim is not None and claim.status == ClaimStatus.WAITING:
            return  # sent in time; a rejection gives time for another photo
        done = await pledges.end(
            user, pledge_id, PledgeStatus.EXPIRED, "system", now=int(time.time())
        )
        if done is not None and done.changed:
            await self.runtime.payments.close_for(done.pledge)
