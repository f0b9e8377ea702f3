"""WeChat Official Account: GET/POST /wechat, plain and safe (AES) mode.

Every request's signature is checked in constant time and must be fresh (5 minutes); XML is read
with defusedxml first (no DOCTYPE, no entities), then by wechatpy. The reply is passive: one XML
message, so a turn's texts are joined and its choices numbered (`1. 无锡经开区金匮公园`). A
certificate goes up through media/upload and comes back as a passive image reply when that fits
in the time WeChat waits, otherwise as a customer-service message right after (the outlet). A
retried message (same MsgId; for events sender + CreateTime) gets the same reply again and
changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from defusedxml import ElementTree
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import (
    InvalidAppIdException,
    InvalidSignatureException,
    WeChatClientException,
)
from wechatpy.replies import ImageReply, TextReply
from wechatpy.utils import WeChatSigner

from bot import i18n
from bot.channels.base import answer, numbered
from bot.channels.wechat.api import make_api
from bot.channels.wechat.outlet import WeChatOutlet, pieces
from bot.config import Settings
from bot.engine import Engine
from bot.model import N_, Channel, Message, Turn, UserKey
from bot.services.evidence import MAX_PHOTO_BYTES
from bot.store import Store
from bot.web.verify import image_link, poster_link

log = logging.getLogger(__name__)

MAX_AGE_S = 300  # requests older or newer than this are refused
PASSIVE_BUDGET_S = 2.5  # WeChat waits 5 s: an image that is not uploaded by then goes by service
DUPLICATE_WAIT_S = 2.0  # a retry may overtake the first delivery's reply by a moment
SUCCESS = "success"  # WeChat's "nothing to say", also for every ignored event
REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
GRANT_EVENTS = {  # subscription events and the element that lists their templates
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}
MAX_EVENT_ENTRIES = 20  # templates in one event (WeChat shows a handful at a time)
SUBSCRIBE_PATH = "/wechat/subscribe"
MENU_COMMANDS = {"PLEDGE": "/pledge", "MINE": "/mine", "LANG": "/lang", "HELP": "/help"}
MENU = {
    "button": [
        {"type": "click", "name": "我要尽责", "key": "PLEDGE"},
        {"type": "click", "name": "我的尽责", "key": "MINE"},
        {
            "name": "更多",
            "sub_button": [
                {"type": "click", "name": "语言 Language", "key": "LANG"},
                {"type": "click", "name": "帮助 Help", "key": "HELP"},
            ],
        },
    ]
}


class BadRequest(Exception):
    """The body is not a WeChat message we can read."""


def read_xml(body: bytes | str) -> Any:
    """The XML's root element; anything but plain, well-formed XML (a DOCTYPE, entities) is
    refused."""
    try:
        return ElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True)
    except Exception as exc:  # defusedxml raises ParseError and its own DTD/entity errors
        raise BadRequest(f"unreadable XML: {type(exc).__name__}") from exc


def signed(token: str, signature: str, *parts: str) -> bool:
    """WeChat's signature: SHA1 of the sorted token and parts, compared in constant time."""
    signer = WeChatSigner()
    signer.add_data(token, *parts)
    return hmac.compare_digest(signer.signature, signature)


def fresh(timestamp: str, now: float | None = None) -> bool:
    """The timestamp is within five minutes of now."""
    if not timestamp.isdigit():
        return False
    return abs((now or time.time()) - int(timestamp)) <= MAX_AGE_S


def locale_of(language: str | None) -> str | None:
    """Our locale for a WeChat profile language (zh_CN, zh_TW, en)."""
    return i18n.locale_for(language.replace("_", "-")) if language else None


class WeChatChannel:
    """Turns WeChat messages into turns and turns into passive replies."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        settings: Settings,
        outlet: WeChatOutlet | None,
        secret: str,
    ) -> None:
        if not settings.wechat_token:
            raise ValueError("WECHAT_TOKEN is required")
        self.engine = engine
        self.turns = store.turns
        self.users = store.users
        self.outlet = outlet
        self.token = settings.wechat_token
        self.public_base_url = settings.public_base_url
        self.secret = secret
        self.admins = settings.wechat_admin_openids
        self.templates = dict(settings.wechat_templates)  # kind of notice → template id
        self.crypto = (
            WeChatCrypto(
                settings.wechat_token, settings.wechat_encoding_aes_key, settings.wechat_app_id
            )
            if settings.wechat_encoding_aes_key
            else None
        )
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- requests -----------------------------------------------------------------------------

    def authentic(self, query: Any) -> bool:
        """A fresh request signed with our token."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        signature = query.get("signature", "")
        return fresh(timestamp) and signed(self.token, signature, timestamp, nonce)

    def open_body(self, body: bytes, query: Any) -> str:
        """The message XML: checked and, in safe mode, verified by msg_signature and
        decrypted. Raises BadRequest, or InvalidSignatureException for a bad msg_signature."""
        root = read_xml(body)
        if query.get("encrypt_type") != "aes":
            return body.decode("utf-8", errors="strict")
        if self.crypto is None:
            raise BadRequest("safe mode is not configured")
        encrypted = root.findtext("Encrypt")
        if not encrypted:
            raise BadRequest("no Encrypt element")
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        signature = query.get("msg_signature", "")
        if not signed(self.token, signature, timestamp, nonce, encrypted):
            raise InvalidSignatureException()
        try:  # given the element read above, not the XML to read again
            envelope = {"Encrypt": encrypted}
            inner = self.crypto.decrypt_message(envelope, signature, timestamp, nonce)
        except (InvalidAppIdException, ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from exc
        read_xml(inner)
        return str(inner)

    def seal(self, reply: str, query: Any) -> str:
        """The reply as sent: encrypted in safe mode ("success" stays plain)."""
        if self.crypto is None or reply == SUCCESS or query.get("encrypt_type") != "aes":
            return reply
        return str(
            self.crypto.encrypt_message(reply, query.get("nonce", ""), query.get("timestamp"))
        )

    # -- turns --------------------------------------------------------------------------------

    async def reply_to(self, xml: str) -> str:
        """The passive reply to one message or event."""
        try:
            message = parse_message(xml)
        except Exception as exc:  # xmltodict and wechatpy raise many kinds on odd input
            raise BadRequest(f"not a WeChat message: {type(exc).__name__}") from exc
        raw = getattr(message, "_data", {})
        if not all(raw.get(field) for field in REQUIRED):
            raise BadRequest("a required field is missing")
        openid = str(message.source)
        user_key = UserKey.of(Channel.WECHAT, openid)
        is_event = str(raw["MsgType"]).lower() == "event"
        dedup = f"e{raw['CreateTime']}" if is_event else f"m{raw.get('MsgId', raw['CreateTime'])}"
        first: bool | None = None  # a message marks its sender active with the reply look-up
        if is_event:  # an event only once it is known to mean a turn (not an unfollow)
            cached = await self.turns.cached_reply(user_key, dedup)
        else:
            first, cached = await self.users.arrive(openid, int(time.time()), dedup)
        if cached is not None:
            return cached
        turn = await self._turn(message, raw, openid, dedup, first)
        if turn is None:
            return SUCCESS
        kept: list[tuple[str, list[str]]] = []  # a text reply, kept with the turn's save

        def keep(messages: list[Message]) -> str:
            text = self._text_reply_of(message, messages)
            if text is None:  # a certificate to upload first: kept apart, afterwards
                return ""
            kept.append(text)
            return text[0]

        messages = await answer(self.engine, turn, keep)
        if not messages:  # a retry of something under way or done
            return await self._reply_of_first_delivery(user_key, dedup)
        if kept:  # the turn saved it for WeChat's retries: what does not fit follows
            reply, rest = kept[0]
            await self._follow_up(message, messages, rest)
            return reply
        reply = await self._passive(message, messages)
        await self.turns.cache_reply(user_key, dedup, reply)
        return reply

    async def _turn(
        self, message: Any, raw: dict[str, Any], openid: str, dedup: str, first: bool | None
    ) -> Turn | None:
        text: str | None
        if str(raw["MsgType"]).lower() == "event":
            text = await self._event_text(raw, UserKey.of(Channel.WECHAT, openid))
            if text is None:
                return None
        else:
            text = str(raw.get("Content") or "") if message.type == "text" else None
        if first is None:
            first = await self.users.mark_active(openid, int(time.time()))  # 48-hour window
        locale = None
        if self.outlet is not None and first:  # the profile's language, read once
            locale = locale_of(await self.outlet.api.user_language(openid))
        photo, oversized = await self._photo(message) if message.type == "image" else (None, False)
        return Turn(
            Channel.WECHAT,
            openid,
            text=text or "",
            message_id=dedup,
            locale=locale,
            is_admin=openid in self.admins,
            unsupported=text is None and photo is None and not oversized,
            photo=photo,
            oversized=oversized,
        )

    async def _photo(self, message: Any) -> tuple[bytes | None, bool]:
        """An image message's bytes, fetched by its media id (empty when it cannot be fetched:
        no API credentials, or WeChat refused), and whether it was over the limit."""
        if self.outlet is None:
            return b"", False  # answered as a photo that cannot be opened
        data = await self.outlet.api.download_media(str(message.media_id), MAX_PHOTO_BYTES)
        if data == b"":
            return None, True
        return data or b"", False

    async def _event_text(self, event: dict[str, Any], user_key: UserKey) -> str | None:
        kind = str(event.get("Event", "")).lower()
        if kind in GRANT_EVENTS:
            await self._grants(event, user_key, kind)
            return None
        if kind == "subscribe":
            return "/start"  # welcome, and subscribed to appeals
        if kind == "unsubscribe":
            await self.users.unsubscribe(user_key)
            return None
        if kind == "click":
            return MENU_COMMANDS.get(str(event.get("EventKey")), "/start")
        return None  # views, locations, template receipts...: nothing to say

    async def _grants(self, event: dict[str, Any], user_key: UserKey, kind: str) -> None:
        """A subscription event: templates accepted (one send more each), turned off, or a
        send WeChat could not deliver. Only our templates count; a replay changes nothing."""
        body = event.get(GRANT_EVENTS[kind])
        items = body.get("List") if isinstance(body, dict) else None
        entries = items if isinstance(items, list) else [items] if isinstance(items, dict) else []
        ours = set(self.templates.values())
        statuses = []
        for entry in entries[:MAX_EVENT_ENTRIES]:
            template = str(entry.get("TemplateId") or "") if isinstance(entry, dict) else ""
            if template not in ours:
                continue
            if kind == "subscribe_msg_sent_event":  # a send WeChat could not deliver: none left
                if str(entry.get("ErrorCode", "0")) != "0":
                    statuses.append((template, "refused"))
            else:
                statuses.append((template, str(entry.get("SubscribeStatusString") or "")))
        if statuses:
            event_id = f"grant{event.get('CreateTime')}"
            if not await self.users.record_grants(user_key, event_id, statuses):
                log.info("a subscription event seen before was ignored")

    def _with_offer(self, messages: list[Message]) -> list[Message]:
        """The messages, the first that offers notices for later carrying the link to allow
        them (when templates and API credentials are set)."""
        index = next((i for i, m in enumerate(messages) if m.offer_updates), None)
        if index is None or not self.templates or self.outlet is None:
            return messages
        offer = messages[index]
        locale = offer.locale or i18n.DEFAULT_LOCALE
        link = f"{self.public_base_url}{SUBSCRIBE_PATH}?lang={locale}"
        line = i18n.text(N_("wechat.offer_updates"), locale, {"link": link})
        changed = dataclasses.replace(offer, text=f"{offer.text}\n\n{line}")
        return [*messages[:index], changed, *messages[index + 1 :]]

    async def _reply_of_first_delivery(self, user_key: str, dedup: str) -> str:
        deadline = asyncio.get_running_loop().time() + DUPLICATE_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            cached = await self.turns.cached_reply(user_key, dedup)
            if cached is not None:
                return cached
            await asyncio.sleep(0.05)
        return SUCCESS

    def _text_reply_of(
        self, message: Any, messages: list[Message]
    ) -> tuple[str, list[str]] | None:
        """A turn's passive reply when it is text (no certificate or poster to upload): the
        reply's XML and the pieces of text that did not fit in it."""
        if any(m.certificate or m.poster for m in messages):
            return None
        return self._split_reply(message, numbered(self._with_offer(messages)))

    def _split_reply(self, message: Any, text: str) -> tuple[str, list[str]]:
        """A passive text reply within WeChat's length, and what does not fit."""
        first, *rest = pieces(text)
        return str(TextReply(message=message, content=first).render()), rest

    async def _follow_up(self, message: Any, messages: list[Message], rest: list[str]) -> None:
        """What follows a text reply: the turn's pictures (a check-in QR code) by customer
        service, then the text that did not fit."""
        outlet, openid = self.outlet, str(message.source)
        if outlet is not None:
            for picture in (m for m in messages if m.image):
                send = partial(outlet.send_picture, openid, picture)
                self._spawn(outlet.service(openid, send))
        await self._send_rest(openid, rest)

    async def _passive(self, message: Any, messages: list[Message]) -> str:
        text_reply = self._text_reply_of(message, messages)
        if text_reply is not None:
            reply, rest = text_reply
            await self._follow_up(message, messages, rest)
            return reply
        text = numbered(self._with_offer(messages))
        certificate = next(m for m in messages if m.certificate or m.poster)
        outlet = self.outlet
        if outlet is None:  # no API credentials: the image cannot be sent, its address can
            serial = certificate.certificate or certificate.poster or ""
            path = (poster_link if certificate.poster else image_link)(self.secret, serial)
            link = f"{self.public_base_url}{path}"
            return await self._text_reply(message, f"{text}\n\n{link}")
        openid = str(message.source)
        upload = asyncio.ensure_future(outlet.media_of(certificate))
        try:
            media_id = await asyncio.wait_for(asyncio.shield(upload), PASSIVE_BUDGET_S)
        except TimeoutError:  # too slow for the passive reply: the image follows by service
            send = partial(_then, upload, partial(outlet.api.send_image, openid))
            self._spawn(outlet.service(openid, send))
            return await self._text_reply(message, text)
        except WeChatClientException as exc:
            log.warning("certificate upload failed (%s); sending text only", exc.errcode)
            return await self._text_reply(message, text)
        self._spawn(outlet.send_pieces(openid, pieces(text)))
        return str(ImageReply(message=message, media_id=media_id).render())

    async def _text_reply(self, message: Any, text: str) -> str:
        """A passive text reply within WeChat's length, what does not fit following."""
        reply, rest = self._split_reply(message, text)
        await self._send_rest(str(message.source), rest)
        return reply

    async def _send_rest(self, openid: str, rest: list[str]) -> None:
        """Text that did not fit in a passive reply: by customer-service message, or without
        API credentials as a note for the user's next message."""
        if not rest:
            return
        if self.outlet is not None:
            self._spawn(self.outlet.send_pieces(openid, rest))
        else:
            await self.users.leave_note(UserKey.of(Channel.WECHAT, openid), "\n".join(rest))

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until the service messages in hand are sent."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _then(upload: asyncio.Future[str], send: Callable[[str], Awaitable[Any]]) -> None:
    await send(await upload)


WECHAT = web.AppKey("wechat", WeChatChannel)


async def verify_url(request: web.Request) -> web.Response:
    """GET /wechat: WeChat's URL check; echoes `echostr` when the signature is right."""
    channel = request.app.get(WECHAT)
    if channel is None or not channel.authentic(request.query):
        return web.Response(status=403, text="forbidden")
    return web.Response(text=request.query.get("echostr", ""))


async def callback(request: web.Request) -> web.Response:
    """POST /wechat: one message or event in, the passive reply out."""
    channel = request.app.get(WECHAT)
    if channel is None or not channel.authentic(request.query):
        return web.Response(status=403, text="forbidden")
    body = await request.read()
    try:
        reply = await channel.reply_to(channel.open_body(body, request.query))
    except InvalidSignatureException:
        return web.Response(status=403, text="forbidden")
    except BadRequest as exc:
        log.info("WeChat request refused: %s", exc)
        return web.Response(status=400, text="bad request")
    return web.Response(text=channel.seal(reply, request.query), content_type="application/xml")


@contextlib.asynccontextmanager
async def serving(app: web.Application, channel: WeChatChannel) -> AsyncIterator[None]:
    """While the server runs: callbacks answered; service messages in hand sent at the end."""
    app[WECHAT] = channel
    try:
        yield
    finally:
        await channel.drain()


def setup(app: web.Application) -> None:
    """Add /wechat (403 until a channel with WECHAT_TOKEN is serving)."""
    app.router.add_get("/wechat", verify_url)
    app.router.add_post("/wechat", callback)


async def create_menu(settings: Settings, redis_url: str) -> None:
    """Replace the account's custom menu with the bot's (three top-level items at most)."""
    api = make_api(settings, redis_url)
    try:
        await api.create_menu(MENU)
    finally:
        api.close()
