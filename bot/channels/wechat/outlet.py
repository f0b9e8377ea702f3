"""Sending on WeChat by customer-service message (the user wrote within 48 hours), and how it
went: the text with numbered choices, then any image. WeChat's 45015 (the window is over) marks
the user unreachable; a notice then goes as a subscription notification if the user granted
one for its kind (one send used per grant; see wechat_notices.py). Images are uploaded once and
their media ids reused for a while."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from wechatpy.exceptions import WeChatClientException

from bot.channels.base import numbered, split_text
from bot.channels.pacing import Pace
from bot.channels.wechat.api import NOT_SUBSCRIBED, OUT_OF_WINDOW, QUOTA, WeChatApi
from bot.channels.wechat.notices import template_data
from bot.logs import user_hash
from bot.model import Brief, Channel, Delivery, Message, UserKey
from bot.store.users import UserStore

log = logging.getLogger(__name__)

MEDIA_KEPT_S = 2 * 24 * 3600  # WeChat keeps temporary media three days
MEDIA_CACHED = 256
TEXT_BYTES = 2000  # WeChat cuts a text message after about 2,048 bytes of UTF-8


def pieces(text: str, limit: int = TEXT_BYTES) -> list[str]:
    """The text in pieces of at most `limit` bytes of UTF-8, cut between lines where it can
    be and between characters where a single line is too long."""
    return split_text(text, limit, _utf8_size, _within_bytes)


def _utf8_size(text: str) -> int:
    return len(text.encode())


def _within_bytes(line: str, limit: int) -> int:
    """How many characters of a line fit in `limit` bytes of UTF-8."""
    return len(line.encode()[:limit].decode(errors="ignore"))


class MissingImageError(WeChatClientException):  # type: ignore[misc]
    """A message's image to upload is not there (a certificate of an unknown serial)."""

    def __init__(self, serial: str) -> None:
        super().__init__(-2, f"no image for {serial or 'the message'}")


@dataclass
class WeChatOutlet:
    """Customer-service messages through one API client at one pace."""

    api: WeChatApi
    users: UserStore
    pace: Pace
    templates: Mapping[str, str] = field(default_factory=dict)  # kind of notice → template id
    _media: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)

    async def push(self, openid: str, messages: Sequence[Message]) -> Delivery:
        """The text with numbered choices, then the images (certificate, appeal picture)."""
        await self.pace.wait(openid)
        delivery = await self.send_pieces(openid, pieces(numbered(messages)))
        for message in messages:
            if delivery == Delivery.SENT and message.image is not None:
                delivery = await self.service(openid, partial(self.send_picture, openid, message))
        brief = next((m.brief for m in messages if m.brief), None)
        if delivery == Delivery.OUTSIDE_WINDOW and brief is not None:
            return await self.notify(openid, brief)
        return delivery

    async def notify(self, openid: str, brief: Brief) -> Delivery:
        """A notice as a subscription notification, if the user has a send of its template
        left: SUBSCRIPTION when it went, OUTSIDE_WINDOW when it could not (no template set, no
        grant, or WeChat refused; the port then keeps a note)."""
        template = self.templates.get(brief.kind)
        user = UserKey.of(Channel.WECHAT, openid)
        if not template:
            log.info(
                "no WECHAT_TEMPLATE_%s set: the %s notice waits as a note",
                brief.kind.upper(),
                brief.kind,
            )
            return Delivery.OUTSIDE_WINDOW
        if not await self.users.take_grant(user, template):
            return Delivery.OUTSIDE_WINDOW
        try:
            await self.api.send_subscription(openid, template, template_data(brief))
        except WeChatClientException as exc:
            log.warning("subscription notice to %s refused: %s", user_hash(user), exc.errcode)
            if exc.errcode == NOT_SUBSCRIBED:
                await self.users.drop_grant(user, template)
            else:
                await self.users.give_back_grant(user, template)
            return Delivery.OUTSIDE_WINDOW
        except Exception:  # the network: the send did not go, the user keeps it
            await self.users.give_back_grant(user, template)
            raise
        return Delivery.SUBSCRIPTION

    async def send_pieces(self, openid: str, texts: Sequence[str]) -> Delivery:
        """Text messages one after the other, stopping at the first refused."""
        delivery = Delivery.SENT
        for text in texts:
            delivery = await self.service(openid, partial(self.api.send_text, openid, text))
            if delivery != Delivery.SENT:
                break
        return delivery

    async def send_picture(self, openid: str, message: Message) -> None:
        """A message's image by customer-service message."""
        await self.api.send_image(openid, await self.media_of(message))

    async def push_to_all(self, messages: Sequence[Message]) -> Delivery:
        """A mass send to every follower (counts against the account's monthly quota)."""
        try:
            await self.api.mass_send_text(numbered(messages))
        except WeChatClientException as exc:
            log.warning("mass send refused (%s)", exc.errcode)
            return Delivery.FAILED
        return Delivery.SENT

    async def service(self, openid: str, send: Callable[[], Awaitable[Any]]) -> Delivery:
        """One customer-service call; WeChat's refusals become a Delivery, and a user outside
        the 48-hour window is marked unreachable."""
        try:
            await send()
        except WeChatClientException as exc:
            user = UserKey.of(Channel.WECHAT, openid)
            level = logging.INFO if exc.errcode in (OUT_OF_WINDOW, QUOTA) else logging.WARNING
            log.log(level, "service message to %s refused: %s", user_hash(user), exc.errcode)
            if exc.errcode == OUT_OF_WINDOW:
                await self.users.mark_unreachable(user)
                return Delivery.OUTSIDE_WINDOW
            return Delivery.FAILED
        return Delivery.SENT

    async def media_of(self, message: Message) -> str:
        """The media id of a message's image (a certificate's is named by its serial),
        uploaded if need be."""
        serial = message.certificate or message.poster
        if message.image is None:
            raise MissingImageError(serial or "")
        name = f"{serial}.jpg" if serial else "image.png"
        return await self.media_id(message.image, name)

    async def media_id(self, image: bytes, name: str) -> str:
        """Upload an image once; the same bytes reuse its media id while WeChat keeps it."""
        digest = hashlib.sha256(image).hexdigest()
        cached = self._media.get(digest)
        if cached is not None and time.monotonic() - cached[1] < MEDIA_KEPT_S:
            return cached[0]
        media_id = await self.api.upload_image(image, name)
        self._media[digest] = (media_id, time.monotonic())
        self._media.move_to_end(digest)
        if len(self._media) > MEDIA_CACHED:
            self._media.popitem(last=False)
        return media_id
