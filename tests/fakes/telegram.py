"""A fake Telegram Bot API on 127.0.0.1: an aiohttp app that speaks the real HTTP protocol
(`/bot<token>/<method>`, form or multipart parameters, `{"ok": ..., "result": ...}`), records
every call, makes the call a webhook's answer carries, serves queued updates to getUpdates, and
injects faults on request."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer

BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "TreeBot",
    "username": "wuxi_tree_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    answered: bool = False  # carried in a webhook's answer, not a request of the bot's


@dataclass
class Fault:
    """An error answer to give instead of the result."""

    status: int
    description: str
    retry_after: int | None = None


class FakeTelegram:
    """The fake server; `url` is the TELEGRAM_API_BASE_URL to give the bot."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faults: dict[str, list[Fault]] = {}
        self.offset = 0
        self.blocked: set[int] = set()  # chats whose user blocked the bot: 403
        self.sends = 0
        self.delivered: Counter[int] = Counter()  # messages that got a success answer
        self.hold_at: int | None = None  # the n-th message never gets an answer...
        self.release = asyncio.Event()  # ...until this is set
        self.files: dict[str, bytes] = {}  # file_path → bytes, for getFile and downloads
        self.refused_tokens: set[str] = set()  # tokens answered 401 Unauthorized
        self.photo_ids: set[str] = set()  # file_ids of photos uploaded (a send may name one)
        self.webhook: dict[str, Any] = {"url": ""}  # what setWebhook registered
        self.webhook_error = ""  # Telegram's last failed delivery to the webhook, if any
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._ids = itertools.count(1000)
        self._sent_to: Counter[str] = Counter()
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self.server = TestServer(self._app(), host="127.0.0.1")

    @property
    def url(self) -> str:
        """The Bot API base; the library appends the token."""
        return str(self.server.make_url("/bot"))

    async def __aenter__(self) -> FakeTelegram:
        await self.server.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        self._new_update.set()
        self.release.set()
        await self.server.close()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        return app

    async def _file(self, request: web.Request) -> web.Response:
        """A file's bytes, as the Bot API's file server gives them."""
        data = self.files.get(request.match_info["path"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self._updates.append(update)
        self._new_update.set()

    def fail(self, method: str, *faults: Fault) -> None:
        """Answer the next calls of `method` with these faults, in order."""
        self.faults.setdefault(method, []).extend(faults)

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Messages and photos sent, to one chat or all."""
        return [
            c
            for c in self.calls
            if c.method in ("sendMessage", "sendPhoto")
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def _count_sent(self, chat: str) -> None:
        self._sent_to[chat] += 1
        waiting = self._waiters.get(chat, [])
        for count, future in [w for w in waiting if w[0] <= self._sent_to[chat]]:
            waiting.remove((count, future))
            if not future.done():
                future.set_result(None)

    async def wait_sent(self, chat_id: int, count: int, within_s: float = 30.0) -> None:
        """Wait until `count` messages or photos went to `chat_id`."""
        chat = str(chat_id)
        if self._sent_to[chat] >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(chat, []).append((count, future))
        await asyncio.wait_for(future, within_s)

    def copies(self) -> Counter[int]:
        """How many messages and photos each chat received (answered with success)."""
        return self.delivered

    def uploads(self) -> list[Call]:
        """Photos sent as bytes (not by a file_id Telegram gave before)."""
        return [c for c in self.of("sendPhoto") if isinstance(c.params.get("photo"), dict)]

    def certificates(self) -> list[Call]:
        """The certificate photos sent (captioned with their serial), not other pictures."""
        return [c for c in self.of("sendPhoto") if "WX20" in str(c.params.get("caption", ""))]

    def of(self, method: str) -> list[Call]:
        """All calls of one method."""
        return [c for c in self.calls if c.method == method]

    async def answered(self, response: ClientResponse) -> None:
        """Read a webhook's answer as Telegram does: a Bot API call it carries is made (its
        result goes nowhere)."""
        body = await response.json()
        if isinstance(body, dict) and "method" in body:
            params = {k: v for k, v in body.items() if k != "method"}
            await self._answer(str(body["method"]), params, token="", answered=True)

    async def _handle(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        return await self._answer(
            request.match_info["method"], params, request.match_info["token"]
        )

    async def _answer(
        self, method: str, params: dict[str, Any], token: str, answered: bool = False
    ) -> web.Response:
        self.calls.append(Call(method, params, answered=answered))
        if token in self.refused_tokens:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        if method in ("sendMessage", "sendPhoto"):
            self.sends += 1
            self._count_sent(str(params.get("chat_id")))
        if method in ("sendMessage", "sendPhoto") and self.sends == self.hold_at:
            self.delivered[int(params.get("chat_id", 0))] += 1  # Telegram has it; no answer
            await self.release.wait()
            return web.json_response({"ok": False, "error_code": 504, "description": "lost"})
        if (
            method in ("sendMessage", "sendPhoto")
            and int(params.get("chat_id", 0)) in self.blocked
        ):
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                },
                status=403,
            )
        photo = params.get("photo")
        if method == "sendPhoto" and isinstance(photo, str) and photo not in self.photo_ids:
            body = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: wrong file identifier/HTTP URL specified",
            }
            return web.json_response(body, status=400)
        queued = self.faults.get(method)
        if queued:
            fault = queued.pop(0)
            body: dict[str, Any] = {
                "ok": False,
                "error_code": fault.status,
                "description": fault.description,
            }
            if fault.retry_after is not None:
                body["parameters"] = {"retry_after": fault.retry_after}
            return web.json_response(body, status=fault.status)
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        if method in ("sendMessage", "sendPhoto"):
            self.delivered[int(params.get("chat_id", 0))] += 1
        return web.json_response({"ok": True, "result": self._result(method, params)})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                params[key] = {"filename": value.filename, "size": len(data)}
                if value.filename.endswith(".json"):  # a user's data: the test reads it
                    params[key]["json"] = json.loads(data)
            else:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        return params

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.offset = max(self.offset, int(params.get("offset") or 0))
        self._updates = [u for u in self._updates if u["update_id"] >= self.offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(
                    self._new_update.wait(), min(float(params.get("timeout") or 0), 1.0)
                )
            except TimeoutError:
                return []
        return list(self._updates)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "setWebhook":
            self.webhook = {"url": params.get("url", ""), "secret": params.get("secret_token")}
        if method == "deleteWebhook":
            self.webhook = {"url": ""}
        if method == "getWebhookInfo":
            info = {
                "url": self.webhook["url"],
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self.webhook_error:
                info |= {
                    "last_error_date": int(time.time()),
                    "last_error_message": self.webhook_error,
                }
            return info
        if method == "getFile":
            path = f"photos/{params.get('file_id')}.jpg"
            size = len(self.files.get(path, b""))
            return {
                "file_id": params.get("file_id"),
                "file_unique_id": "u",
                "file_size": size,
                "file_path": path,
            }
        if method in (
            "sendMessage",
            "sendPhoto",
            "sendVenue",
            "sendDocument",
            "editMessageReplyMarkup",
        ):
            chat_id = int(params.get("chat_id", 0))
            message: dict[str, Any] = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "x"},
                "from": BOT_USER,
            }
            if method == "sendPhoto":
                file_id = params["photo"] if isinstance(params["photo"], str) else ""
                file_id = file_id or f"photo-{next(self._ids)}"
                self.photo_ids.add(file_id)
                message["photo"] = [
                    {"file_id": file_id, "file_unique_id": "u", "width": 1080, "height": 1528}
                ]
            else:
                message["text"] = params.get("text", "")
            return message
        return True
