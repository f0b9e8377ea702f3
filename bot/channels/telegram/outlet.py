"""Sending on Telegram: messages → Bot API calls, and how it went (Delivery).

python-telegram-bot serves as a typed Bot API client (ExtBot). Choices become
inline keyboards (short labels two to a row, back and cancel last); text goes out as HTML,
escaped, so names with <, &, * or _ show as typed; a turn's texts are joined into one message,
and a picture carries the text after it as its caption where that fits: a base's card is one
message, its pin a "📍 Map" button away. A picture many are sent (a base's, an appeal's) goes up
once; later sends name the `file_id` Telegram gave it, kept in Redis for every process.
Replies go at once; pushes wait for the chat's pace (pacing.py). Every call is retried by one
policy: network faults and 5xx with backoff, 429s after the wait Telegram asks for (held by the
outlet's pace); 400 and 403 are final.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeAlias, TypeVar

from telegram import InlineKeyboardMarkup, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from bot import i18n
from bot.channels.base import split_text
from bot.channels.pacing import Pace
from bot.channels.telegram.http import AiohttpRequest
from bot.config import Settings
from bot.errors import ConfigError
from bot.logs import user_hash
from bot.model import N_, Button, Channel, Delivery, Message, UserKey, Venue, image_type
from bot.store.media import MediaStore
from bot.store.users import UserStore

log = logging.getLogger(__name__)

T = TypeVar("T")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
SEND_ATTEMPTS = 4
FIRST_BACKOFF_S = 0.2  # before the second try; then twice as long each time, at most 2 s
POLL_TIMEOUT_S = 25
SHORT_LABEL = 14  # labels up to this long go two to a keyboard row
MAP_CHOICE = "map:"  # a button that asks for a base's pin: map:LOCALE:BASE
Keyboard: TypeAlias = dict[str, list[list[dict[str, str]]]]  # reply_markup as the Bot API's JSON


class Client(ExtBot[Any]):
    """PTB's ExtBot, able to send a text without building the Message Telegram answers with:
    the bot never reads it, and turning it into objects cost about 0.4 ms a message, a third
    of a turn's CPU. The request goes the library's own way (defaults, markup, errors)."""

    async def send_text(self, chat_id: int, text: str, markup: Keyboard | None = None) -> None:
        """sendMessage as HTML, with an inline keyboard if given."""
        data = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML}
        await self._post("sendMessage", data | ({"reply_markup": markup} if markup else {}))


def make_bot(settings: Settings) -> Client:
    """The Bot API client at TELEGRAM_API_BASE_URL (token appended). It has no limiter of its
    own: the outlet paces every send through the budget all processes share
    (handlers/pacing.py) and waits out 429s for all of them."""
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    # Opt in to PTB 23's timedelta durations now; v22 warns on every RetryAfter otherwise.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    base = settings.telegram_api_base_url or "https://api.telegram.org/bot"
    return Client(
        settings.telegram_bot_token,
        base_url=base,
        base_file_url=base.replace("/bot", "/file/bot"),
        request=AiohttpRequest(pool_size=64),
        get_updates_request=AiohttpRequest(pool_size=1, read_timeout=POLL_TIMEOUT_S + 10),
    )


def keyboard(
    buttons: tuple[Button, ...], venue: Venue | None = None, locale: str = ""
) -> Keyboard | None:
    """Buttons as an inline keyboard: short labels two to a row, the map of a place's pin
    under them, back and cancel last. As the Bot API's JSON, not PTB's objects: building and
    serialising those for every message cost more than the rest of the send."""
    if not buttons and venue is None:
        return None
    buttons = tuple(b for b in buttons if len(b.id.encode()) <= CALLBACK_DATA_LIMIT)
    main = [b for b in buttons if not b.id.startswith("nav:")]
    nav = [b for b in buttons if b.id.startswith("nav:")]
    width = 2 if all(len(b.label) <= SHORT_LABEL for b in main) else 1
    rows = [main[i : i + width] for i in range(0, len(main), width)]
    locale = locale or i18n.DEFAULT_LOCALE
    pin = f"{MAP_CHOICE}{locale}:{venue.base}" if venue else ""
    if pin and len(pin.encode()) <= CALLBACK_DATA_LIMIT:
        rows.append([Button(pin, i18n.text(N_("place.map_button"), locale))])
    rows += [nav] if nav else []
    return {
        "inline_keyboard": [
            [{"text": b.label, "callback_data": b.id} for b in row] for row in rows
        ]
    }


def bundle(messages: Sequence[Message]) -> list[Message]:
    """Join consecutive texts into one Telegram message, and a text into the picture before
    it (as its caption, where it fits), so a turn is usually one send."""
    joined: list[Message] = []
    for message in messages:
        last = joined[-1] if joined else None
        text = f"{last.text}\n\n{message.text}" if last else ""
        if (
            last
            and not (last.buttons or last.attachment or _stands_alone(message))
            and (last.image is None or _caption(text) is not None)
        ):
            joined[-1] = replace(last, text=text, buttons=message.buttons)
        else:
            joined.append(message)
    return joined


def _stands_alone(message: Message) -> bool:
    """A message sent on its own: with a picture, a document or a place."""
    return bool(message.image or message.venue or message.attachment)


def _file_name(message: Message, picture: bytes) -> str:
    """A picture's file name: the serial for a certificate, JPEG or PNG as the bytes say."""
    suffix = "jpg" if image_type(picture) == "jpeg" else "png"
    return f"{message.certificate or 'image'}.{suffix}"


def _caption(text: str) -> str | None:
    """The text as a picture's caption, if it fits in one."""
    pieces = chunks(text)
    return pieces[0] if len(pieces) == 1 and len(pieces[0]) <= CAPTION_LIMIT else None


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """The text as escaped HTML pieces within Telegram's limit, cut at line ends if possible."""
    return split_text(html.escape(text, quote=False), limit, cut=_before_entity)


def _before_entity(line: str, limit: int) -> int:
    """Where to cut an escaped line at most `limit` long: never inside an entity (&amp;)."""
    entity = line.rfind("&", limit - 6, limit)
    return entity if entity > 0 and ";" not in line[entity:limit] else limit


def _transient(exc: BaseException) -> bool:
    """Worth another try: 429s, network faults and 5xx (a BadRequest is final)."""
    if isinstance(exc, RetryAfter):
        return True
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


def seconds(value: Any) -> float:
    """A Bot API duration (seconds or a timedelta) in seconds."""
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


@dataclass
class TelegramOutlet:
    """Sends to private chats through one Bot API client at one pace."""

    bot: Client
    users: UserStore
    pace: Pace
    media: MediaStore
    account: str = field(init=False)  # the bot, as a name for its pictures' ids

    def __post_init__(self) -> None:
        self.account = hashlib.sha256(self.bot.token.encode()).hexdigest()[:16]

    async def push(self, user_id: str, messages: Sequence[Message]) -> Delivery:
        """Send what the user did not just ask for (a notice, a reminder, an appeal), at the
        chat's pace; a user who blocked the bot is unsubscribed."""
        return await self._deliver(user_id, bundle(messages), reply=False)

    async def reply(
        self, user_id: str, messages: Sequence[Message], answer: WebhookAnswer | None = None
    ) -> Delivery:
        """Answer the user's own message or tap at once (only Telegram's 429 holds it); a
        reply that is one text message goes in the webhook's `answer` while it is open."""
        bundled = bundle(messages)
        call = _as_one_call(user_id, bundled) if answer is not None and answer.open else None
        if call is not None:
            await self.pace.wait(call["chat_id"], reply=True)
            if answer is not None and answer.offer(call):
                return Delivery.SENT
        return await self._deliver(user_id, bundled, reply=True)

    async def _deliver(self, user_id: str, bundled: list[Message], reply: bool) -> Delivery:
        if not user_id.lstrip("-").isdigit():
            return Delivery.UNREACHABLE
        user = UserKey.of(Channel.TELEGRAM, user_id)
        try:
            for message in bundled:
                await self._send(int(user_id), message, reply)
        except Forbidden:
            log.info("user %s blocked the bot; unsubscribed", user_hash(user))
            await self.users.unsubscribe(user)
            return Delivery.BLOCKED
        except TelegramError as exc:
            log.warning("Telegram refused a message to %s: %s", user_hash(user), exc)
            return Delivery.FAILED
        return Delivery.SENT

    async def push_to_all(self, messages: Sequence[Message]) -> Delivery:
        """Telegram has no way to message every user at once."""
        return Delivery.UNREACHABLE

    async def pin(self, chat_id: int, venue: Venue) -> None:
        """A place's pin (sendVenue), asked for by its map button."""
        send_venue = partial(
            self.bot.send_venue,
            chat_id,
            latitude=venue.lat,
            longitude=venue.lon,
            title=venue.title[:100],
            address=venue.address[:100],
        )
        await self.call(send_venue, chat_id, reply=True)

    async def _send(self, chat_id: int, message: Message, reply: bool) -> None:
        markup = keyboard(message.buttons, message.venue, message.locale)
        caption = _caption(message.text)
        files = message.attachment is not None or message.image is not None
        captioned = _captioned(caption, markup) if files else {}
        if message.attachment is not None:  # a document; the text goes along when it fits
            attached = InputFile(message.attachment.data, filename=message.attachment.name)
            upload = partial(self.bot.send_document, chat_id, attached, **captioned)
            await self.call(upload, chat_id, reply=reply)
            if caption:
                return
        if message.image is not None:
            await self._picture(chat_id, message.image, message, captioned, reply)
            if caption:
                return
        pieces = chunks(message.text)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            send = partial(self.bot.send_text, chat_id, piece, markup if last else None)
            await self.call(send, chat_id, reply=reply)

    async def _picture(
        self,
        chat_id: int,
        picture: bytes,
        message: Message,
        captioned: dict[str, Any],
        reply: bool,
    ) -> None:
        """sendPhoto: by the id Telegram gave a picture many are sent (uploaded again if
        Telegram no longer knows it), else the bytes."""
        name = ""
        if message.image_name:
            name = f"{message.image_name}:{hashlib.sha256(picture).hexdigest()[:16]}"
            known = await self.media.get(Channel.TELEGRAM, self.account, name)
            if known is not None:
                try:
                    by_id = partial(self.bot.send_photo, chat_id, known, **captioned)
                    await self.call(by_id, chat_id, reply=reply)
                    return
                except BadRequest as exc:
                    log.info("Telegram refused a kept picture id (%s); uploading again", exc)
                    await self.media.drop(Channel.TELEGRAM, self.account, name)
        shown = InputFile(picture, filename=_file_name(message, picture))
        upload = partial(self.bot.send_photo, chat_id, shown, **captioned)
        sent = await self.call(upload, chat_id, reply=reply)
        if name and sent.photo:
            await self.media.put(Channel.TELEGRAM, self.account, name, sent.photo[-1].file_id)

    async def call(
        self, call: Callable[[], Awaitable[T]], chat_id: int | None = None, *, reply: bool = False
    ) -> T:
        """A Bot API call under the retry policy; a send to a chat waits for the pace first
        (a reply only for the account's). The first try goes without the retry machinery
        (it cost as much as the call itself); a transient fault hands the rest to it."""
        try:
            return await self._attempt(call, chat_id, reply)
        except TelegramError as exc:
            if not _transient(exc):
                raise
        await asyncio.sleep(FIRST_BACKOFF_S)
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(SEND_ATTEMPTS - 1),
            wait=wait_exponential(multiplier=2 * FIRST_BACKOFF_S, max=2),
            reraise=True,
        )
        result: T = await retrying(self._attempt, call, chat_id, reply)
        return result

    async def _attempt(
        self, call: Callable[[], Awaitable[T]], chat_id: int | None, reply: bool
    ) -> T:
        if chat_id is not None:
            await self.pace.wait(chat_id, reply=reply)
        try:
            return await call()
        except RetryAfter as exc:  # Telegram asks to wait: hold the pace, then try again
            await self.pace.hold(seconds(exc.retry_after))
            raise

    async def quietly(self, call: Callable[[], Awaitable[Any]]) -> None:
        """A call whose failure does not matter (answering a callback, removing a keyboard);
        our own chat's budget is not taken for it."""
        try:
            await self.call(call)
        except TelegramError as exc:
            log.info("Telegram call failed and was skipped: %s", exc)


class WebhookAnswer:
    """The answer to one webhook request, which may carry one Bot API call for Telegram to
    make as it reads it (the Bot API's "reply to the webhook"): no request of our own, and no
    result either, so only a reply whose outcome the bot does not need goes this way. Once the
    answer is on its way it is closed, and a reply that comes later is sent as usual."""

    def __init__(self) -> None:
        self.call: dict[str, Any] | None = None
        self.open = True

    def offer(self, call: dict[str, Any]) -> bool:
        """Carry `call`, if the answer is still open and carries nothing yet."""
        if not self.open or self.call is not None:
            return False
        self.call = call
        return True

    def close(self) -> dict[str, Any]:
        """The answer's body: the call it carries, or a plain acknowledgement."""
        self.open = False
        return self.call or {"ok": True}


def _as_one_call(user_id: str, bundled: list[Message]) -> dict[str, Any] | None:
    """A reply that is one text message within one sendMessage, as the webhook answer's
    call; None for anything more (a picture, a second message, a long text)."""
    message = bundled[0] if len(bundled) == 1 else None
    if message is None or message.image or message.attachment or not user_id.isdigit():
        return None
    pieces = chunks(message.text)
    if len(pieces) != 1:
        return None
    markup = keyboard(message.buttons, message.venue, message.locale)
    call = {"method": "sendMessage", "chat_id": int(user_id), "text": pieces[0]}
    return call | {"parse_mode": ParseMode.HTML} | ({"reply_markup": markup} if markup else {})


def _captioned(caption: str | None, markup: Keyboard | None) -> dict[str, Any]:
    """A file's caption (HTML) and, with a caption, the keyboard under it."""
    if caption is None:
        return {}
    keys = InlineKeyboardMarkup.de_json(markup, None) if markup else None
    return {"caption": caption, "parse_mode": ParseMode.HTML, "reply_markup": keys}
