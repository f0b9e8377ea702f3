"""The web chat: GET /chat (the page) and POST /chat/api (one turn in, replies out as JSON).

GET /chat gives the visitor a cookie signed with BOT_SECRET (no login); /chat/api answers 401
to a request without a valid one and stores nothing, so a client cannot mint visitors. The
conversation lives in Redis like any other, so a reload carries on where the visitor left off.
Turns are limited per visitor and per network address. Text goes out as JSON and the page
inserts it as text, never as HTML.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from bot import i18n, metrics
from bot.channels.base import answer
from bot.channels.http import came_by_https, client_address, read_json
from bot.config import Network
from bot.engine import Engine
from bot.model import N_, Channel, Message, Turn, UserKey, image_type
from bot.services import signing
from bot.services.evidence import MAX_PHOTO_BYTES
from bot.store.turns import TurnStore
from bot.templating import page, request_locale
from bot.web.verify import image_link, poster_link

COOKIE = "tp_visitor"
COOKIE_MAX_AGE = 365 * 24 * 3600
PURPOSE = "visitor"
FLOOD_LIMIT = 30  # turns a visitor may send per window
ADDRESS_LIMIT = 200  # turns one network address may send per window (a school, an office)
FLOOD_WINDOW_S = 10
MAX_BODY = 64 * 1024
MAX_CHOICE = 64
MAX_MESSAGE_ID = 64
UI_KEYS = {  # the page's own words, switched when the conversation's language changes
    "title": N_("web.title"),
    "placeholder": N_("web.placeholder"),
    "send": N_("web.send"),
    "download": N_("web.download"),
    "share": N_("web.share"),
    "poster": N_("web.poster_alt"),
    "verify": N_("web.verify_link"),
    "offline": N_("web.offline"),
    "certificate": N_("web.certificate_alt"),
    "retry": N_("web.retry"),
    "caption": N_("web.caption"),
    "send_photo": N_("web.send_photo"),
    "cancel_photo": N_("web.cancel_photo"),
}


@cache
def page_words() -> str:
    """The page's words in every language, as JSON for the page's script."""
    words = {
        locale: {name: i18n.text(key, locale) for name, key in UI_KEYS.items()}
        for locale in i18n.LOCALES
    }
    return json.dumps(words, ensure_ascii=False)


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _refusal(key: str, locale: str, status: int) -> web.Response:
    return _json({"error": i18n.text(key, locale)}, status=status)


def _turn_fields(body: Any) -> tuple[str, str | None, str | None] | None:
    """Text, choice and message id from a request body, or None when it is not well formed."""
    if not isinstance(body, dict):
        return None
    text, choice, message_id = body.get("text", ""), body.get("choice"), body.get("message_id")
    if not isinstance(text, str):
        return None
    if choice is not None and (not isinstance(choice, str) or len(choice) > MAX_CHOICE):
        return None
    if message_id is not None and (
        not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID
    ):
        return None
    return text, choice, message_id


class WebChat:
    """The web chat channel: one turn per POST, the visitor known by a signed cookie."""

    def __init__(
        self,
        engine: Engine,
        turns: TurnStore,
        secret: str,
        proxies: Sequence[Network] = (),
        public_https: bool = False,
    ) -> None:
        self.engine = engine
        self.turns = turns
        self.secret = secret
        self.proxies = proxies
        self.public_https = public_https  # PUBLIC_BASE_URL is https: a proxy may say so

    def _visitor(self, request: web.Request) -> str | None:
        """The visitor id from a cookie we signed, or None."""
        return signing.unsign(self.secret, PURPOSE, request.cookies.get(COOKIE, ""))

    async def page(self, request: web.Request) -> web.Response:
        """The chat page, in the visitor's language (with the page's words in both, for
        /lang); a new visitor gets a signed cookie."""
        response = page("chat.html", request_locale(request), ui=page_words())
        if self._visitor(request) is None:
            signed = signing.sign(self.secret, PURPOSE, secrets.token_urlsafe(18))
            response.set_cookie(
                COOKIE,
                signed,
                max_age=COOKIE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=came_by_https(request, self.proxies, self.public_https),
                path="/",
            )
        return response

    async def api(self, request: web.Request) -> web.Response:
        """One turn: `{"text": ...}` or `{"choice": id}`, with an optional `message_id` for
        retries."""
        locale = request_locale(request)
        body = await request.read()
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        fields = _turn_fields(read_json(body))
        if fields is None:
            return _refusal(N_("web.bad_request"), locale, 400)
        visitor = self._visitor(request)
        if visitor is None:  # no cookie from GET /chat: nothing is stored for strangers
            return _refusal(N_("web.no_visitor"), locale, 401)
        user = UserKey.of(Channel.WEB, visitor)
        address = client_address(request, self.proxies)
        hits, from_address = await self.turns.count_hits(user, address, FLOOD_WINDOW_S)
        if hits > FLOOD_LIMIT or from_address > ADDRESS_LIMIT:
            metrics.RATE_LIMITED.labels(Channel.WEB).inc()
            slow_down = Message(i18n.text(N_("web.slow_down"), locale))
            return _json({"messages": [self._as_json(slow_down)]}, status=429)
        text, choice, message_id = fields
        turn = Turn(
            Channel.WEB, visitor, text=text, choice_id=choice, message_id=message_id, locale=locale
        )
        return await self._answer(turn, locale)

    async def photo(self, request: web.Request) -> web.Response:
        """A photo as evidence: multipart with a `photo` file (at most 5 MB) and an optional
        `note`; answered like a turn."""
        locale = request_locale(request)
        visitor = self._visitor(request)
        if visitor is None:
            return _refusal(N_("web.no_visitor"), locale, 401)
        try:
            photo, note = await _read_photo(request)
        except (ValueError, AssertionError):  # not multipart, or a broken one
            return _refusal(N_("web.bad_request"), locale, 400)
        if photo is None:
            return _refusal(N_("web.bad_request"), locale, 400)
        user = UserKey.of(Channel.WEB, visitor)
        address = client_address(request, self.proxies)
        hits, from_address = await self.turns.count_hits(user, address, FLOOD_WINDOW_S)
        if hits > FLOOD_LIMIT or from_address > ADDRESS_LIMIT:
            return _refusal(N_("web.slow_down"), locale, 429)
        turn = Turn(
            Channel.WEB,
            visitor,
            text=note,
            locale=locale,
            photo=photo if len(photo) <= MAX_PHOTO_BYTES else None,
            oversized=len(photo) > MAX_PHOTO_BYTES,
        )
        return await self._answer(turn, locale)

    async def _answer(self, turn: Turn, locale: str) -> web.Response:
        messages = await answer(self.engine, turn)
        said = next((m.locale for m in reversed(messages) if m.locale), locale)
        return _json({"messages": [self._as_json(m) for m in messages], "locale": said})

    def _as_json(self, message: Message) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": message.text,
            "buttons": [{"id": b.id, "label": b.label} for b in message.buttons],
        }
        if message.image is not None and not (message.certificate or message.poster):  # a QR
            kind = image_type(message.image)
            body["image"] = f"data:image/{kind};base64," + base64.b64encode(message.image).decode()
        if message.forgotten:  # the page clears the transcript it keeps
            body["forgotten"] = True
        if message.certificate:
            serial = message.certificate
            image = image_link(self.secret, serial)
            body["certificate"] = {
                "serial": serial,
                "image": image,
                "download": f"{image}&download=1",
                "verify": f"/verify/{serial}?lang={message.locale or i18n.DEFAULT_LOCALE}",
                "share": poster_link(self.secret, serial),
            }
        if message.poster:
            poster = poster_link(self.secret, message.poster)
            body["poster"] = {"image": poster, "download": f"{poster}&download=1"}
        return body


async def _read_photo(request: web.Request) -> tuple[bytes | None, str]:
    """The `photo` part (read to one byte past the limit) and the `note` of a multipart body."""
    reader = await request.multipart()
    photo: bytes | None = None
    note = ""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "photo":
            photo = await _read_part(part, MAX_PHOTO_BYTES + 1)
        elif part.name == "note":
            note = (await _read_part(part, 2000)).decode("utf-8", errors="replace")
    return photo, note.strip()


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) >= limit:
            return bytes(data[:limit])
    return bytes(data)


def setup(app: web.Application, chat: WebChat) -> None:
    """Add the web chat's routes."""
    app.router.add_get("/chat", chat.page)
    app.router.add_post("/chat/api", chat.api)
    app.router.add_post("/chat/photo", chat.photo)
