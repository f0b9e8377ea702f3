"""Telegram: updates (webhook or long polling) → Turn; messages → Bot API calls.

python-telegram-bot serves as a typed Bot API client (ExtBot, Update.de_json, AIORateLimiter);
conversation state stays in Redis like every other channel's. Choices become inline keyboards;
after a tap the keyboard is removed so it cannot be pressed twice. Text goes out as HTML,
escaped, so names with <, &, * or _ show as typed.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from aiohttp import web
from aiolimiter import AsyncLimiter
from telegram import (
    BotCommand,
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram import Message as TgMessage
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot import i18n
from bot.config import Settings
from bot.errors import ConfigError
from bot.handlers.base import answer
from bot.handlers.telegram_http import AiohttpRequest
from bot.model import Button, Message, Turn
from bot.privacy import user_hash
from bot.runtime import RUNTIME, Runtime

log = logging.getLogger(__name__)

T = TypeVar("T")
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
COMMANDS = ("start", "pledge", "book", "bookings", "mine", "lang", "help", "cancel", "forget")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
SEND_ATTEMPTS = 4
POLL_TIMEOUT_S = 25
SHORT_LABEL = 14  # labels up to this long go two to a keyboard row
CHAT_BURST = 3  # messages one chat may get at once before pacing sets in
PACED_CHATS = 10_000


def make_bot(settings: Settings, rate_limited: bool = True) -> ExtBot[int]:
    """The Bot API client: TELEGRAM_API_BASE_URL (token appended), TELEGRAM_RATE_LIMIT messages
    a second overall, 429s waited out (AIORateLimiter retries after `retry_after`). Broadcasts
    use one without the limiter: they pace themselves across workers, apart from replies."""
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    # Opt in to PTB 23's timedelta durations now; v22 warns on every RetryAfter otherwise.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    base = settings.telegram_api_base_url or "https://api.telegram.org/bot"
    return ExtBot(
        settings.telegram_bot_token,
        base_url=base,
        base_file_url=base.replace("/bot", "/file/bot"),
        request=AiohttpRequest(pool_size=64),
        get_updates_request=AiohttpRequest(pool_size=1, read_timeout=POLL_TIMEOUT_S + 10),
        rate_limiter=(
            AIORateLimiter(overall_max_rate=settings.telegram_rate_limit, max_retries=3)
            if rate_limited
            else None
        ),
    )


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """Buttons as an inline keyboard: short labels two to a row, back and cancel last."""
    if not buttons:
        return None
    buttons = tuple(b for b in buttons if len(b.id.encode()) <= CALLBACK_DATA_LIMIT)
    main = [b for b in buttons if not b.id.startswith("nav:")]
    nav = [b for b in buttons if b.id.startswith("nav:")]
    width = 2 if all(len(b.label) <= SHORT_LABEL for b in main) else 1
    rows = [main[i : i + width] for i in range(0, len(main), width)] + ([nav] if nav else [])
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.id) for b in row] for row in rows]
    )


def bundle(messages: list[Message]) -> list[Message]:
    """Join consecutive texts into one Telegram message, so a turn is usually one send."""
    joined: list[Message] = []
    for message in messages:
        last = joined[-1] if joined else None
        if last and not last.buttons and not last.certificate and not message.certificate:
            joined[-1] = Message(f"{last.text}\n\n{message.text}", message.buttons)
        else:
            joined.append(message)
    return joined


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """The text as escaped HTML pieces within Telegram's limit, cut at line ends if possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        for char_piece in _fit_line(html.escape(line, quote=False), limit):
            candidate = f"{current}\n{char_piece}" if current else char_piece
            if len(candidate) <= limit:
                current = candidate
            else:
                pieces.append(current)
                current = char_piece
    return [*pieces, current]


def _fit_line(line: str, limit: int) -> list[str]:
    """An escaped line cut into pieces of at most `limit`, never inside an entity (&amp;)."""
    out = []
    while len(line) > limit:
        cut = limit
        entity = line.rfind("&", cut - 6, cut)
        if entity != -1 and ";" not in line[entity:cut]:
            cut = entity
        out.append(line[:cut])
        line = line[cut:]
    return [*out, line]


class ChatPacing:
    """About `rate` messages a second to one chat, with short bursts allowed (Telegram's
    guidance for a single chat). Kept per process for the most recent chats only."""

    def __init__(self, rate: float, burst: int = CHAT_BURST, chats: int = PACED_CHATS) -> None:
        self.rate, self.burst, self.chats = rate, burst, chats
        self._limiters: OrderedDict[int, AsyncLimiter] = OrderedDict()

    async def wait(self, chat_id: int) -> None:
        """Return when one more message may go to `chat_id`."""
        limiter = self._limiters.pop(chat_id, None) or AsyncLimiter(
            self.burst, self.burst / self.rate
        )
        self._limiters[chat_id] = limiter
        if len(self._limiters) > self.chats:
            self._limiters.popitem(last=False)
        await limiter.acquire()


class TelegramChannel:
    """Turns Telegram updates into turns and the engine's messages into Bot API calls."""

    def __init__(self, runtime: Runtime, bot: ExtBot[int], settings: Settings) -> None:
        self.runtime = runtime
        self.bot = bot
        self.admins = settings.telegram_admin_ids
        self.webhook_secret = settings.telegram_webhook_secret
        self.pacing = ChatPacing(settings.telegram_chat_rate)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect (getMe) and publish the command menu in Chinese and English."""
        await self.bot.initialize()
        for locale, language in (("zh", "zh"), ("en", None)):
            commands = [BotCommand(c, i18n.text(f"command.{c}", locale)) for c in COMMANDS]
            await self._api(partial(self.bot.set_my_commands, commands, language_code=language))

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let updates in hand finish (up to `grace_s`), then close the client."""
        try:
            await asyncio.wait_for(self.drain(), grace_s)
        except TimeoutError:
            for task in self._tasks:
                task.cancel()
        await self.bot.shutdown()

    async def drain(self) -> None:
        """Wait until every update in hand has been handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, data: dict[str, Any]) -> None:
        """Handle an update in the background (the webhook answers Telegram at once)."""
        task = asyncio.create_task(self.process(data))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Telegram update failed", exc_info=task.exception())

    async def process(self, data: dict[str, Any] | Update) -> None:
        """Handle one update of any kind; unknown kinds are ignored, never an error."""
        try:
            update = data if isinstance(data, Update) else Update.de_json(data, self.bot)
        except (TypeError, ValueError, KeyError, AttributeError):
            log.warning("malformed Telegram update ignored")
            return
        if update is None:
            return
        try:
            if update.callback_query is not None:
                await self._on_callback(update.callback_query, update.update_id)
            elif update.message is not None:
                await self._on_message(update.message, update.update_id)
            elif update.my_chat_member is not None:
                await self._on_member(update.my_chat_member)
        except TelegramError:
            log.exception("Telegram call failed for update %s", update.update_id)

    def _turn(self, user: Any, update_id: int, **fields: Any) -> Turn:
        return Turn(
            "telegram",
            str(user.id),
            message_id=str(update_id),
            locale=user.language_code,
            display_name=user.full_name,
            is_admin=user.id in self.admins,
            **fields,
        )

    async def _on_message(self, message: TgMessage, update_id: int) -> None:
        user = message.from_user
        if message.chat.type != ChatType.PRIVATE or user is None or user.is_bot:
            return  # groups and channels: the bot talks to people one to one
        turn = self._turn(
            user, update_id, text=message.text or "", unsupported=message.text is None
        )
        await self.push(message.chat.id, await answer(self.runtime.engine, turn))

    async def _on_callback(self, query: CallbackQuery, update_id: int) -> None:
        await self._quietly(query.answer)  # always answered, whatever happens next
        message = query.message
        if query.data is None or message is None or message.chat.type != ChatType.PRIVATE:
            return
        await self._quietly(
            partial(
                self.bot.edit_message_reply_markup,
                message.chat.id,
                message.message_id,
                reply_markup=None,
            )
        )
        turn = self._turn(query.from_user, update_id, choice_id=query.data)
        await self.push(message.chat.id, await answer(self.runtime.engine, turn))

    async def _on_member(self, change: ChatMemberUpdated) -> None:
        if change.chat.type != ChatType.PRIVATE:
            return
        user_key = f"telegram:{change.from_user.id}"
        if change.new_chat_member.status == ChatMemberStatus.BANNED:  # the user blocked the bot
            await self.runtime.store.unsubscribe(user_key)
        elif change.new_chat_member.status == ChatMemberStatus.MEMBER:
            await self.runtime.store.subscribe(user_key)

    async def push(self, chat_id: int, messages: list[Message]) -> None:
        """Send messages to a private chat; a user who blocked the bot is unsubscribed."""
        try:
            for message in bundle(messages):
                await self._send(chat_id, message)
        except Forbidden:
            user_key = f"telegram:{chat_id}"
            log.info("user %s blocked the bot; unsubscribed", user_hash(user_key))
            await self.runtime.store.unsubscribe(user_key)

    async def _send(self, chat_id: int, message: Message) -> None:
        await self.pacing.wait(chat_id)
        markup = keyboard(message.buttons)
        pieces = chunks(message.text)
        if message.certificate:
            png = await self.runtime.certificate_png(message.certificate)
            caption = pieces[0] if len(pieces) == 1 and len(pieces[0]) <= CAPTION_LIMIT else None
            if png is not None:
                photo = InputFile(png, filename=f"{message.certificate}.png")
                await self._api(
                    partial(
                        self.bot.send_photo,
                        chat_id,
                        photo,
                        caption=caption,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup if caption else None,
                    )
                )
                if caption:
                    return
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            await self._api(
                partial(
                    self.bot.send_message,
                    chat_id,
                    piece,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None,
                )
            )

    async def _api(self, call: Callable[[], Awaitable[T]]) -> T:
        """A Bot API call, retried with backoff on network errors and 5xx (429s are waited
        out by the rate limiter; 400 and 403 are final)."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await call()
            except (BadRequest, Forbidden, RetryAfter):
                raise
            except NetworkError:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def _quietly(self, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await self._api(call)
        except TelegramError as exc:
            log.info("Telegram call failed and was skipped: %s", exc)

    async def poll(self) -> None:
        """Long polling: fetch updates and handle them, users side by side, each in order."""
        await self._api(partial(self.bot.delete_webhook, drop_pending_updates=False))
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=list(ALLOWED_UPDATES)
                )
                failures = 0
            except NetworkError as exc:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", exc)
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if updates:
                offset = updates[-1].update_id + 1
                await self._process_batch(list(updates))

    async def _process_batch(self, updates: list[Update]) -> None:
        by_user: dict[int | None, list[Update]] = {}
        for update in updates:
            user = update.effective_user
            by_user.setdefault(user.id if user else None, []).append(update)

        async def in_order(batch: list[Update]) -> None:
            for update in batch:
                await self.process(update)

        await asyncio.gather(*(in_order(batch) for batch in by_user.values()))


TELEGRAM = web.AppKey("telegram", TelegramChannel)


async def webhook(request: web.Request) -> web.Response:
    """POST /telegram: 403 without the right secret header; otherwise acknowledge at once and
    handle the update in the background. Retried updates (same update_id) change nothing."""
    channel = request.app.get(TELEGRAM)
    secret = channel.webhook_secret if channel else None
    given = request.headers.get(SECRET_HEADER, "")
    if channel is None or not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"ok": False}, status=403)
    try:
        data = await request.json()
    except ValueError:
        return web.json_response({"ok": False, "error": "malformed JSON"}, status=400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return web.json_response({"ok": False, "error": "not an update"}, status=400)
    channel.spawn(data)
    return web.json_response({"ok": True})


async def telegram_context(settings: Settings, app: web.Application) -> AsyncIterator[None]:
    """With a token: start the channel; long-poll unless a webhook secret is set."""
    channel = TelegramChannel(app[RUNTIME], make_bot(settings), settings)
    await channel.start()
    app[TELEGRAM] = channel
    poller = None
    if not settings.telegram_webhook_secret:
        poller = asyncio.create_task(channel.poll())
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        await channel.stop()


def setup(app: web.Application, settings: Settings) -> None:
    """Add the webhook route, and the channel itself when a token is configured."""
    app.router.add_post("/telegram", webhook)
    if settings.telegram_bot_token:
        app.cleanup_ctx.append(partial(telegram_context, settings))


async def set_webhook(settings: Settings, url: str) -> None:
    """Register `url` as the webhook, with the secret and the update kinds the bot uses."""
    if not settings.telegram_webhook_secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be set to register a webhook")
    bot = make_bot(settings)
    async with bot:
        await bot.set_webhook(
            url,
            secret_token=settings.telegram_webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
        )
