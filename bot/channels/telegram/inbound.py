"""Telegram: updates (webhook or long polling) → Turn; the replies go out through the outlet,
a reply of one text message in the webhook's answer.

Conversation state stays in Redis like every other channel's. After a tap the keyboard is
removed so it cannot be pressed twice; every callback query is answered. A place's map button
brings its pin and leaves the question open. Blocks (403, or
`my_chat_member` "kicked") unsubscribe the user, coming back subscribes them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import orjson
from aiohttp import web
from telegram import BotCommand, Update
from telegram.constants import ChatMemberStatus
from telegram.error import NetworkError, TelegramError
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception_type, wait_exponential

from bot import i18n, logs
from bot.channels.base import answer as answer_turn
from bot.channels.http import read_json
from bot.channels.telegram import updates
from bot.channels.telegram.outlet import (
    MAP_CHOICE,
    POLL_TIMEOUT_S,
    TelegramOutlet,
    WebhookAnswer,
    make_bot,
)
from bot.config import Settings
from bot.engine import Engine
from bot.errors import ConfigError
from bot.model import Channel, Turn, UserKey
from bot.services import places
from bot.services.evidence import MAX_PHOTO_BYTES
from bot.store.users import UserStore

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
COMMANDS = (
    "start",
    "pledge",
    "book",
    "bookings",
    "mine",
    "team",
    "join",
    "lang",
    "help",
    "cancel",
    "mydata",
    "privacy",
    "forget",
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
POLL_BACKOFF_MAX_S = 30.0
ANSWER_WAIT_S = 2.0  # how long the webhook waits for the turn to answer in its response
ANSWERS_KEPT = 1024  # recent webhook answers with a call, for Telegram's retries of them


class TelegramChannel:
    """Turns Telegram updates into turns; the outlet sends the answers."""

    def __init__(
        self, engine: Engine, outlet: TelegramOutlet, users: UserStore, settings: Settings
    ) -> None:
        self.engine = engine
        self.outlet = outlet
        self.bot = outlet.bot
        self.users = users
        self.admins = settings.telegram_admin_ids
        self.webhook_secret = settings.telegram_webhook_secret
        self._tasks: set[asyncio.Task[None]] = set()
        self._answers: OrderedDict[int, dict[str, Any]] = OrderedDict()  # by update_id

    async def start(self) -> None:
        """Publish the command menu in Chinese and English."""
        for locale, language in (("zh", "zh"), ("en", None)):
            commands = [BotCommand(c, i18n.text(f"command.{c}", locale)) for c in COMMANDS]
            await self.outlet.call(
                partial(self.bot.set_my_commands, commands, language_code=language)
            )

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let updates in hand finish (up to `grace_s`), then cancel the rest."""
        try:
            await asyncio.wait_for(self.drain(), grace_s)
        except TimeoutError:
            for task in self._tasks:
                task.cancel()

    async def drain(self) -> None:
        """Wait until every update in hand has been handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, data: dict[str, Any], answer: WebhookAnswer) -> asyncio.Task[None]:
        """Handle an update as a task of its own, which outlives the webhook's request."""
        task = asyncio.create_task(self.process(data, answer))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def answer_webhook(self, data: dict[str, Any]) -> dict[str, Any]:
        """The webhook's answer to an update: the reply's call when it is one text message
        ready within ANSWER_WAIT_S, else an acknowledgement (the reply goes by request). An
        update Telegram sends again, having lost our answer, gets the same call (from the
        ANSWERS_KEPT most recent, in this process); the turn itself is never run twice."""
        update_id = int(data["update_id"])
        kept = self._answers.get(update_id)
        if kept is not None:
            return kept
        answer = WebhookAnswer()
        await asyncio.wait({self.spawn(data, answer)}, timeout=ANSWER_WAIT_S)
        body = answer.close()
        if answer.call is not None:
            self._answers[update_id] = body
            while len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return body

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Telegram update failed", exc_info=task.exception())

    async def process(self, data: dict[str, Any], answer: WebhookAnswer | None = None) -> None:
        """Handle one update (the Bot API's JSON) of any kind; malformed or unknown kinds are
        ignored, never an error. The reply may go in the webhook's `answer`."""
        update = updates.read(data)
        if update is None:
            log.info("a Telegram update of no kind the bot handles was ignored")
            return
        polled = logs.REQUEST_ID.get() == "-"  # a webhook's request has its id already
        token = logs.REQUEST_ID.set(f"tg-{update.update_id}") if polled else None
        event = update.event
        try:
            if isinstance(event, updates.Tapped):
                await self._on_callback(event, update.update_id, answer)
            elif isinstance(event, updates.Said):
                await self._on_message(event, update.update_id, answer)
            else:
                await self._on_member(event)
        except TelegramError:
            log.exception("Telegram call failed for update %s", update.update_id)
        finally:
            if token is not None:
                logs.REQUEST_ID.reset(token)

    def _turn(self, user: updates.Sender, update_id: int, **fields: Any) -> Turn:
        return Turn(
            Channel.TELEGRAM,
            str(user.id),
            message_id=str(update_id),
            locale=user.language,
            display_name=user.full_name,
            is_admin=user.id in self.admins,
            **fields,
        )

    async def _on_message(
        self, message: updates.Said, update_id: int, answer: WebhookAnswer | None
    ) -> None:
        user = message.sender
        if not message.private or user is None or user.is_bot:
            return  # groups and channels: the bot talks to people one to one
        photo, oversized = await self._photo(message.picture)
        turn = self._turn(
            user,
            update_id,
            text=message.text or message.caption or "",
            unsupported=message.text is None and photo is None and not oversized,
            photo=photo,
            oversized=oversized,
        )
        await self.outlet.reply(str(message.chat_id), await answer_turn(self.engine, turn), answer)

    async def _photo(self, picture: updates.Picture | None) -> tuple[bytes | None, bool]:
        """A photo sent (or an image sent as a file): its bytes (empty when it could not be
        fetched; None when there is none), and whether it was over the limit."""
        if picture is None:
            return None, False
        if picture.size is not None and picture.size > MAX_PHOTO_BYTES:
            return None, True
        try:
            found = await self.outlet.call(partial(self.bot.get_file, picture.file_id))
            data = bytes(await self.outlet.call(found.download_as_bytearray))
        except TelegramError as exc:
            log.info("a photo could not be fetched: %s", exc)
            return b"", False  # answered as a photo that cannot be opened
        return (None, True) if len(data) > MAX_PHOTO_BYTES else (data, False)

    async def _on_callback(
        self, query: updates.Tapped, update_id: int, answer: WebhookAnswer | None
    ) -> None:
        # always answered, whatever happens next
        await self.outlet.quietly(partial(self.bot.answer_callback_query, query.query_id))
        chat_id = query.chat_id
        if query.data is None or chat_id is None or not query.private:
            return
        if query.data.startswith(MAP_CHOICE):  # the question stays open, its keyboard too
            await self._pin(chat_id, query.data.removeprefix(MAP_CHOICE))
            return
        await self.outlet.quietly(
            partial(
                self.bot.edit_message_reply_markup, chat_id, query.message_id, reply_markup=None
            )
        )
        turn = self._turn(query.sender, update_id, choice_id=query.data)
        await self.outlet.reply(str(chat_id), await answer_turn(self.engine, turn), answer)

    async def _pin(self, chat_id: int, asked: str) -> None:
        """A base's pin, in the language its card was shown in (`LOCALE:BASE`)."""
        locale, _, base_id = asked.partition(":")
        base = self.engine.services.catalog.base(base_id)
        if base is not None:
            venue = places.venue(base, i18n.locale_for(locale), self.engine.public_base_url)
            await self.outlet.pin(chat_id, venue)

    async def _on_member(self, change: updates.Membership) -> None:
        if not change.private:
            return
        user = UserKey.of(Channel.TELEGRAM, str(change.user_id))
        if change.status == ChatMemberStatus.BANNED:  # the user blocked the bot
            await self.users.unsubscribe(user)
        elif change.status == ChatMemberStatus.MEMBER:
            await self.users.subscribe(user)

    async def poll(self) -> None:
        """Long polling: fetch updates and handle them, users side by side, each in order."""
        await self.outlet.call(partial(self.bot.delete_webhook, drop_pending_updates=False))
        offset: int | None = None
        while True:
            updates = await self._fetch(offset)
            if updates:
                offset = updates[-1].update_id + 1
                await self._process_batch(updates)

    async def _fetch(self, offset: int | None) -> list[Update]:
        """One getUpdates, retried with backoff for as long as the network fails."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(NetworkError),
            wait=wait_exponential(multiplier=0.5, max=POLL_BACKOFF_MAX_S),
            before_sleep=before_sleep_log(log, logging.WARNING),
        ):
            with attempt:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=list(ALLOWED_UPDATES)
                )
                return list(updates)
        return []

    async def _process_batch(self, updates: list[Update]) -> None:
        by_user: dict[int | None, list[Update]] = {}
        for update in updates:
            user = update.effective_user
            by_user.setdefault(user.id if user else None, []).append(update)

        async def in_order(batch: list[Update]) -> None:
            for update in batch:
                await self.process(update.to_dict())

        await asyncio.gather(*(in_order(batch) for batch in by_user.values()))


TELEGRAM = web.AppKey("telegram", TelegramChannel)


async def webhook(request: web.Request) -> web.Response:
    """POST /telegram: 403 without the right secret header; otherwise the update is handled
    and answered (`TelegramChannel.answer_webhook`). Retried updates (same update_id) change
    nothing."""
    channel = request.app.get(TELEGRAM)
    secret = channel.webhook_secret if channel else None
    given = request.headers.get(SECRET_HEADER, "")
    if channel is None or not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"ok": False}, status=403)
    data = read_json(await request.read())
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return web.json_response({"ok": False, "error": "not an update"}, status=400)
    answer = await channel.answer_webhook(data)
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, channel: TelegramChannel, polling: bool
) -> AsyncIterator[None]:
    """While the server runs: the command menu published, long polling when asked."""
    await channel.start()
    app[TELEGRAM] = channel
    poller = asyncio.create_task(channel.poll()) if polling else None
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        await channel.stop()


def setup(app: web.Application) -> None:
    """Add the webhook route (403 until a channel with a secret is serving)."""
    app.router.add_post("/telegram", webhook)


async def set_webhook(settings: Settings, url: str) -> None:
    """Register `url` as the webhook, with the secret and the update kinds the bot uses."""
    if not settings.telegram_webhook_secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be set to register a webhook")
    async with make_bot(settings) as bot:
        await bot.set_webhook(
            url,
            secret_token=settings.telegram_webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
        )
