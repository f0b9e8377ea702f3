"""`python -m bot worker`: reminders, no-shows, notices and appeals, from Redis.

Due reminders and finished slots are claimed from sorted sets onto the outbox stream in one
script, so two workers never take the same one. The outbox is read through a consumer group:
an entry a dead worker left unacknowledged is taken over after IDLE_MS. A delivery mark taken
just before sending keeps an entry from reaching a user twice (a crash between the mark and the
send loses that one message rather than doubling it). Everything goes out through the output
port; appeals through a second port paced for them (bot/worker/appeals.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta

from bot import i18n, logs
from bot.channels.platforms import open_channels, open_gateway
from bot.channels.port import Port
from bot.model import N_, Brief, Button, Message, Param, UserKey
from bot.ops.backup import Nightly
from bot.runtime import Runtime, connect_to
from bot.services import places
from bot.services.pledges import PledgeStatus
from bot.store.claims import ClaimStatus
from bot.store.jobs import Daily, Job, JobKind, Notice
from bot.store.slots import BookingStatus
from bot.worker.appeals import AppealSender

log = logging.getLogger(__name__)

GROUP = "senders"
BATCH = 50
BLOCK_MS = 1000
IDLE_MS = 60_000  # an entry unacknowledged this long belonged to a worker that died
TICK_S = 1.0
BACKUP_LOOK_S = 60  # how often a worker looks whether the nightly backup is due
BRIEF_LOCALE = (
    "zh"  # subscription notifications fill Chinese templates (phrase fields are Chinese)
)
YEAR_DAYS = 365.25


class Worker:
    """One worker of the outbox; any number may run against one Redis."""

    def __init__(self, runtime: Runtime, port: Port, name: str | None = None) -> None:
        self.runtime = runtime
        self.port = port
        self.jobs = runtime.store.jobs
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._retention = Daily(self.jobs, "retention")

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set."""
        await self.jobs.ensure_group(GROUP)
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
        await self.retention(datetime.now(UTC))
        await self.jobs.claim_due(int(time.time()))
        entries = await self.jobs.take(GROUP, self.name, BATCH, block_ms, IDLE_MS)
        for job in entries:
            if await self.jobs.first_delivery(job.entry_id):
                await self._handle(job)
            await self.jobs.ack(GROUP, job.entry_id)
        return len(entries)

    async def retention(self, now: datetime) -> int:
        """Anonymise pledges older than the catalogue's retention, once a day across all
        workers; how many were anonymised (0 when another worker has today's run)."""
        if not await self._retention.claim(now.date().isoformat()):
            return 0
        years = self.runtime.catalog.privacy.retention_years
        cutoff = now - timedelta(days=round(YEAR_DAYS * years))
        done = await self.runtime.pledges.anonymise_before(cutoff)
        log.info("retention: %d pledges older than %d years anonymised", done, years)
        return done

    async def _handle(self, job: Job) -> None:
        token = logs.REQUEST_ID.set(f"job-{job.entry_id}")
        try:
            if job.kind == JobKind.REMINDER:
                await self._remind(*job.reminder())
            elif job.kind == JobKind.SLOT_END:
                await self.runtime.bookings.close(job.ref)
            elif job.kind == JobKind.NOTIFY:
                await self._notify(Notice.from_json(job.ref))
            elif job.kind == JobKind.EXPIRE:
                await self._expire(*job.pledge())
            elif job.kind == JobKind.ORDER:
                await self.runtime.payments.check(job.ref, int(time.time()))
            else:
                log.warning("outbox entry of unknown kind %r skipped", job.kind)
        except Exception:  # one bad entry must not stop the others
            log.exception("outbox entry %s failed", job.kind)
        finally:
            logs.REQUEST_ID.reset(token)

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

    async def _remind(self, slot_id: str, user: UserKey) -> None:
        booking = await self.runtime.store.slots.booking(user, slot_id)
        if booking is None or booking.status != BookingStatus.BOOKED:
            return  # cancelled meanwhile
        locale = await self._locale(user)
        params = await self._slot_params(slot_id, locale) | {"code": booking.code}
        buttons = (
            Button(f"act:keep_booking:{slot_id}", i18n.text(N_("booking.keep_button"), locale)),
            Button(
                f"act:cancel_booking:{slot_id}", i18n.text(N_("booking.cancel_button"), locale)
            ),
        )
        text = i18n.text(N_("booking.reminder"), locale, params)
        slot = await self.runtime.bookings.slot(slot_id)
        base = self.runtime.catalog.base(slot.base) if slot else None
        brief = Brief(
            "reminder",
            subject=(slot.task if slot else "")
            or i18n.text(N_("brief.volunteering"), BRIEF_LOCALE),
            when=self._local_minute(slot.start) if slot else "",
            note=base.name(BRIEF_LOCALE) if base else "",
        )
        if base is None:
            await self.port.push(user, [Message(text, buttons, brief=brief)])
            return
        link_base = self.runtime.settings.public_base_url
        text, venue = places.located(text, base, locale, link_base)  # where to go, and how
        message = Message(text, buttons, locale=locale, venue=venue, brief=brief)
        await self.port.push(user, [message])

    def _local_minute(self, epoch: int) -> str:
        """An epoch second as the programme's local `YYYY-MM-DD HH:MM`."""
        return datetime.fromtimestamp(epoch, self.runtime.catalog.timezone).strftime(
            "%Y-%m-%d %H:%M"
        )

    async def _notify(self, notice: Notice) -> None:
        user = UserKey(notice.user)
        locale = await self._locale(user)
        params: dict[str, Param] = dict(notice.params)
        if "slot" in params:
            params |= await self._slot_params(str(params["slot"]), locale)
        key = notice.key
        if key == "booking.checked_in" and notice.certificate:
            key = N_("booking.checked_in_certificate")
        text = i18n.text(key, locale, params)
        brief = Brief(
            "result",
            subject=_first_line(i18n.text(key, BRIEF_LOCALE, params)),
            state=i18n.text(_state_of(key), BRIEF_LOCALE),
            note=str(params.get("reason") or params.get("serial") or params.get("place") or ""),
        )
        await self.port.push(user, [Message(text, certificate=notice.certificate, brief=brief)])

    async def _locale(self, user: UserKey) -> str:
        return await self.runtime.store.users.locale(user) or i18n.DEFAULT_LOCALE

    async def _slot_params(self, slot_id: str, locale: str) -> dict[str, Param]:
        slot = await self.runtime.bookings.slot(slot_id)
        if slot is None:
            return {"when": "", "place": "", "task": "", "bring": ""}
        catalog = self.runtime.catalog
        return {
            "when": i18n.when(catalog.span(slot.start, slot.end), locale),
            "place": catalog.base_name(slot.base, locale),
            "task": slot.task,
            "bring": catalog.volunteering.bring(locale),
        }


def _state_of(key: str) -> str:
    """A notice's outcome in a word or two (a subscription notification's result field)."""
    for word, state in (
        ("fulfilled", N_("brief.done")),
        ("checked_in", N_("brief.done")),
        ("rejected", N_("brief.rejected")),
        ("expired", N_("brief.expired")),
        ("revoked", N_("brief.revoked")),
        ("cancel", N_("brief.cancelled")),
    ):
        if word in key:
            return state
    return N_("brief.updated")


def _first_line(text: str) -> str:
    """The first line of a text, without leading symbols (an emoji does not fit a form)."""
    line = text.strip().split("\n", 1)[0]
    return line.lstrip("✅❌⏰📅🎉⚠️🔔 ").strip()


async def run_worker(runtime: Runtime) -> None:
    """Run the outbox worker and appeal delivery until SIGTERM or SIGINT, sending through the
    configured channels."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = runtime.settings
    async with (
        open_gateway(runtime, settings),
        open_channels(runtime, settings) as notices,
        open_channels(runtime, settings, appeals=True) as appeals,
    ):
        sender = AppealSender(runtime.appeals, runtime.store.users, appeals.port)
        await asyncio.gather(
            Worker(runtime, notices.port).run(stop), sender.run(stop), backups(runtime, stop)
        )


async def backups(runtime: Runtime, stop: asyncio.Event) -> None:
    """Take the nightly backup when it is due (looked at every minute) until `stop`."""
    settings = runtime.settings
    client = connect_to(settings, runtime.redis_url, decode=False)
    folder = settings.data_dir / "backups"
    nightly = Nightly(client, runtime.store, folder, settings.backup_keep, settings.backup_hour)
    try:
        while not stop.is_set():
            try:
                await nightly.due(runtime.catalog.local(datetime.now(UTC)))
            except Exception:
                log.exception("nightly backup failed; trying again tomorrow")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BACKUP_LOOK_S)
    finally:
        await client.aclose()
