"""The web chat: GET /chat (the page) and POST /chat/api (one turn in, replies out as JSON).

A cookie identifies the visitor (no login); the conversation lives in Redis like any other, so a
reload carries on where the visitor left off. Text goes out as JSON and the page inserts it as
text, never as HTML.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from aiohttp import web

from bot import i18n, metrics
from bot.engine import Engine
from bot.handlers.base import answer
from bot.model import N_, Message, Turn, UserKey
from bot.store.turns import TurnStore
from bot.templating import page, request_locale

COOKIE = "tp_visitor"
COOKIE_MAX_AGE = 365 * 24 * 3600
FLOOD_LIMIT = 30  # turns a visitor may send per window
FLOOD_WINDOW_S = 10
MAX_BODY = 64 * 1024
MAX_CHOICE = 64
MAX_MESSAGE_ID = 64
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _visitor(request: web.Request) -> tuple[str, bool]:
    """The visitor id from the cookie, or a new one (and True when it is new)."""
    current = request.cookies.get(COOKIE, "")
    if _VISITOR.match(current):
        return current, False
    return secrets.token_urlsafe(18), True


def _remember(response: web.StreamResponse, request: web.Request, visitor: str) -> None:
    response.set_cookie(
        COOKIE,
        visitor,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )


async def chat_page(request: web.Request) -> web.Response:
    """The chat page, in the visitor's language."""
    visitor, new = _visitor(request)
    response = page("chat.html", request_locale(request))
    if new:
        _remember(response, request, visitor)
    return response


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _bad_request(locale: str) -> web.Response:
    return _json({"error": i18n.text(N_("web.bad_request"), locale)}, status=400)


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


def _as_json(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": message.text,
        "buttons": [{"id": b.id, "label": b.label} for b in message.buttons],
    }
    if message.certificate:
        serial = message.certificate
        body["certificate"] = {
            "serial": serial,
            "image": f"/certificates/{serial}.png",
            "download": f"/certificates/{serial}.png?download=1",
            "verify": f"/verify/{serial}",
        }
    return body


class WebChat:
    """The web chat channel: one turn per POST, the visitor known by a cookie."""

    def __init__(self, engine: Engine, turns: TurnStore) -> None:
        self.engine = engine
        self.turns = turns

    async def api(self, request: web.Request) -> web.Response:
        """One turn: `{"text": ...}` or `{"choice": id}`, with an optional `message_id` for
        retries."""
        locale = request_locale(request)
        visitor, new = _visitor(request)
        body = await request.read()
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        try:
            fields = _turn_fields(json.loads(body))
        except ValueError:
            fields = None
        if fields is None:
            return _bad_request(locale)
        text, choice, message_id = fields
        if await self.turns.count_hit(UserKey.of("web", visitor), FLOOD_WINDOW_S) > FLOOD_LIMIT:
            metrics.RATE_LIMITED.labels("web").inc()
            slow_down = Message(i18n.text(N_("web.slow_down"), locale))
            return _json({"messages": [_as_json(slow_down)]}, status=429)
        turn = Turn(
            "web", visitor, text=text, choice_id=choice, message_id=message_id, locale=locale
        )
        messages = await answer(self.engine, turn)
        response = _json({"messages": [_as_json(m) for m in messages]})
        if new:
            _remember(response, request, visitor)
        return response


def setup(app: web.Application, chat: WebChat) -> None:
    """Add the web chat's routes."""
    app.router.add_get("/chat", chat_page)
    app.router.add_post("/chat/api", chat.api)
