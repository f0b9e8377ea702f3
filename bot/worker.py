"""`python -m bot worker`: reminders, no-shows and notifications, from Redis.

Due reminders and finished slots are claimed from sorted sets onto the outbox stream in one
script, so two workers never take the same one. The outbox is read through a consumer group:
an entry a dead worker left unacknowledged is taken over after IDLE_MS. A delivery mark taken
just before sending keeps an entry from reaching a user twice (a crash between the mark and the
send loses that one message rather than doubling it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from bot import i18n
from bot.handlers.telegram import TelegramChannel
from bot.handlers.wechat import WeChatChannel, numbered
from bot.model import N_, Button, Message, Param, When
from bot.runtime import Runtime

log = logging.getLogger(__name__)

GROUP = "senders"
BATCH = 50
BLOCK_MS = 1000
IDLE_MS = 60_000  # an entry unacknowledged this long belonged to a worker that died
TICK_S = 1.0


@dataclass
class Senders:
    """Push messages to users wherever they are; web and terminal users get notes instead."""

    runtime: Runtime
    telegram: TelegramChannel | None = None
    wechat: WeChatChannel | None = None

    async def push(self, user_key: str, messages: list[Message]) -> None:
        """Send `messages` to one user on their channel."""
        channel, user_id = user_key.split(":", 1)
        if channel == "telegram" and self.telegram is not None:
            await self.telegram.push(int(user_id), messages)
        elif channel == "wechat" and self.wechat is not None and self.wechat.api is not None:
            await self.wechat.push(user_id, messages)
        else:  # shown at the user's next turn
            await self.runtime.bookings.slots.leave_note(user_key, numbered(messages))


class Worker:
    """One worker; any number may run against one Redis."""

    def __init__(self, runtime: Runtime, senders: Senders, name: str | None = None) -> None:
        self.runtime = runtime
        self.senders = senders
        self.slots = runtime.bookings.slots
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set."""
        await self.slots.ensure_group(GROUP)
        while not stop.is_set():
            try:
                await self.run_once(block_ms=BLOCK_MS)
            except Exception:
                log.exception("worker round failed; trying again")
                await asyncio.sleep(TICK_S)

    async def run_once(self, block_ms: int = 0) -> int:
        """Claim what is due, then handle one batch of the outbox; how many entries handled."""
        await self.slots.ensure_group(GROUP)
        await self.slots.claim_due(int(time.time()))
        entries = await self.slots.take(GROUP, self.name, BATCH, block_ms, IDLE_MS)
        for entry_id, fields in entries:
            if await self.slots.first_delivery(entry_id):
                await self._handle(fields.get("kind", ""), fields.get("ref", ""))
            await self.slots.ack(GROUP, entry_id)
        return len(entries)

    async def _handle(self, kind: str, ref: str) -> None:
        try:
            if kind == "reminder":
                await self._remind(*ref.split("\n", 1))
            elif kind == "slot_end":
                await self.runtime.bookings.close(ref)
            elif kind == "notify":
                await self._notify(json.loads(ref))
        except Exception:  # one bad entry must not stop the others
            log.exception("outbox entry %s failed", kind)

    async def _remind(self, slot_id: str, user_key: str) -> None:
        booking = (await self.slots.bookings(user_key)).get(slot_id)
        if booking is None or booking.status != "booked":
            return  # cancelled meanwhile
        locale = await self._locale(user_key)
        params = await self._slot_params(slot_id, locale) | {"code": booking.code}
        buttons = (
            Button(f"act:keep_booking:{slot_id}", i18n.text(N_("booking.keep_button"), locale)),
            Button(
                f"act:cancel_booking:{slot_id}", i18n.text(N_("booking.cancel_button"), locale)
            ),
        )
        text = i18n.text(N_("booking.reminder"), locale, params)
        await self.senders.push(user_key, [Message(text, buttons)])

    async def _notify(self, note: dict[str, Any]) -> None:
        user_key, key = note["user"], note["key"]
        locale = await self._locale(user_key)
        params: dict[str, Any] = dict(note.get("params") or {})
        if "slot" in params:
            params |= await self._slot_params(str(params["slot"]), locale)
        certificate = note.get("certificate")
        if key == "booking.checked_in" and certificate:
            key = N_("booking.checked_in_certificate")
        text = i18n.text(key, locale, params)
        await self.senders.push(user_key, [Message(text, certificate=certificate)])

    async def _locale(self, user_key: str) -> str:
        return await self.runtime.store.session_locale(user_key) or i18n.DEFAULT_LOCALE

    async def _slot_params(self, slot_id: str, locale: str) -> dict[str, Param]:
        slot = await self.slots.slot(slot_id)
        if slot is None:
            return {"when": "", "place": "", "task": "", "bring": ""}
        catalog = self.runtime.catalog
        base = catalog.base(slot.base)
        span = When(slot.start, slot.end, catalog.timezone.key)
        return {
            "when": i18n.when(span, locale),
            "place": base.name(locale) if base else slot.base,
            "task": slot.task,
            "bring": catalog.volunteering.bring(locale),
        }
