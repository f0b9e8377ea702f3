"""A fake WeChat Official Account API on 127.0.0.1 (token, stable_token, media/upload,
message/custom/send, menu/create, user/info, ticket/getticket, message/subscribe/bizsend with
the users' subscriptions and WeChat's field limits), recording calls, with tokens that can be
expired and error codes that can be injected; and WeChat's own side of the callback protocol
(signing and AES encryption), written from WeChat's documentation rather than through
wechatpy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree

FIELD_LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32, "number": 32}
TIME_SHAPE = re.compile(r"\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}")
APP_ID = "wx1234567890abcdef"
APP_SECRET = "fake-app-secret"  # noqa: S105 - a test value
TOKEN = "wechat-callback-token"  # noqa: S105 - a test value
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat shows it


@dataclass
class Call:
    """One request the bot made."""

    path: str
    query: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


class FakeWeChat:
    """The fake API server; `url` is the WECHAT_API_BASE_URL to give the bot."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.valid_tokens: set[str] = set()
        self.errors: dict[str, list[int]] = {}
        self.languages: dict[str, str] = {}
        self.delays: dict[str, float] = {}
        self.out_of_window: set[str] = set()  # followers silent for 48 hours: 45015
        self.media: dict[str, bytes] = {}  # media_id → the bytes media/get gives
        self.subscriptions: Counter[tuple[str, str]] = Counter()  # (openid, template): sends
        self.tickets = 0  # JS-SDK tickets handed out
        self.refuse_ip = False  # the caller's address is not on the IP allow-list: 40164
        self.menu: dict[str, Any] | None = None  # the custom menu menu/create made
        self._ids = itertools.count(1)
        self.server = TestServer(self._app(), host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def __aenter__(self) -> FakeWeChat:
        await self.server.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.server.close()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/cgi-bin/{path:.+}", self._handle)
        return app

    def expire_tokens(self) -> None:
        """Every token handed out so far stops working (errcode 40001)."""
        self.valid_tokens.clear()

    def fail(self, path: str, *errcodes: int) -> None:
        """Answer the next calls of `path` with these error codes."""
        self.errors.setdefault(path, []).extend(errcodes)

    def of(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def forget(self) -> None:
        """Forget the calls so far (a test looks only at what comes next)."""
        self.calls.clear()

    def sent_to(self, openid: str) -> list[dict[str, Any]]:
        """Customer-service messages to one user."""
        return [c.body for c in self.of("message/custom/send") if c.body.get("touser") == openid]

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        query = dict(request.query)
        body: Any = None
        if request.content_type == "multipart/form-data":
            form = await request.post()
            media = form.get("media")
            body = {"size": len(media.file.read()) if isinstance(media, web.FileField) else 0}
        elif request.can_read_body:
            body = json.loads(await request.read() or b"null")
        self.calls.append(Call(path, query, body))
        if path in self.delays:
            await asyncio.sleep(self.delays[path])
        if path in ("token", "stable_token") and self.refuse_ip:
            why = "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist"
            return web.json_response({"errcode": 40164, "errmsg": why})
        if path in ("token", "stable_token"):
            return web.json_response(self._token(query, body))
        if self.errors.get(path):
            code = self.errors[path].pop(0)
            return web.json_response({"errcode": code, "errmsg": f"injected {code}"})
        if path == "message/custom/send" and body.get("touser") in self.out_of_window:
            return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
        if query.get("access_token") not in self.valid_tokens:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if path == "message/subscribe/bizsend":
            return web.json_response(self._bizsend(body))
        if path == "menu/create":
            self.menu = body
        if path == "menu/get":
            found = {"menu": self.menu} if self.menu else {"errcode": 46003, "errmsg": "no menu"}
            return web.json_response(found)
        if path == "media/get":
            data = self.media.get(query.get("media_id", ""))
            if data is None:
                return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
            return web.Response(body=data, content_type="image/jpeg")
        return web.json_response(self._result(path, query))

    def _token(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        credentials = body if isinstance(body, dict) else query
        if (credentials.get("appid"), credentials.get("secret")) != (APP_ID, APP_SECRET):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        token = f"TOKEN-{next(self._ids)}"
        self.valid_tokens.add(token)
        return {"access_token": token, "expires_in": 7200}

    def _bizsend(self, body: dict[str, Any]) -> dict[str, Any]:
        """A subscription notification: refused without a subscription left (43101) or with a
        field WeChat would not take (47003)."""
        for name, field_value in (body.get("data") or {}).items():
            value = str(field_value.get("value", ""))
            kind = name.rstrip("0123456789")
            limit = FIELD_LIMITS.get(kind)
            wrong_time = kind == "time" and not TIME_SHAPE.fullmatch(value)
            if not value or (limit and len(value) > limit) or wrong_time:
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{name}.value invalid"}
        key = (str(body.get("touser")), str(body.get("template_id")))
        if self.subscriptions[key] < 1:
            return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        self.subscriptions[key] -= 1
        return {"errcode": 0, "errmsg": "ok", "msgid": next(self._ids)}

    def notices_to(self, openid: str) -> list[dict[str, Any]]:
        """Subscription notifications that reached one user."""
        return [
            c.body for c in self.of("message/subscribe/bizsend") if c.body.get("touser") == openid
        ]

    def _result(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        if path == "media/upload":
            return {
                "type": "image",
                "media_id": f"MEDIA-{next(self._ids)}",
                "created_at": int(time.time()),
            }
        if path == "ticket/getticket" and query.get("type") == "jsapi":
            self.tickets += 1
            return {
                "errcode": 0,
                "errmsg": "ok",
                "ticket": f"TICKET-{self.tickets}",
                "expires_in": 7200,
            }
        if path == "user/info":
            openid = query.get("openid", "")
            return {
                "subscribe": 1,
                "openid": openid,
                "language": self.languages.get(openid, "zh_CN"),
            }
        return {"errcode": 0, "errmsg": "ok"}


# -- WeChat's side of the callback ---------------------------------------------------------


def sign(*parts: str) -> str:
    """SHA1 of the sorted parts, as WeChat signs callbacks."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's


def _aes_key() -> bytes:
    return base64.b64decode(AES_KEY + "=")


def encrypt(xml: str, app_id: str = APP_ID) -> str:
    """AES-256-CBC, key from EncodingAESKey, IV its first 16 bytes; random 16 bytes + length +
    message + AppID, PKCS#7-padded to 32 bytes; base64."""
    message = xml.encode()
    plain = os.urandom(16) + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    key = _aes_key()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(encrypted: str) -> tuple[str, str]:
    """The message and AppID inside an encrypted reply."""
    key = _aes_key()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    length = struct.unpack(">I", plain[16:20])[0]
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def callback_request(
    xml: str, safe: bool, token: str = TOKEN, timestamp: int | None = None
) -> tuple[dict[str, str], str]:
    """The query string and body WeChat would POST for `xml`."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = str(int.from_bytes(os.urandom(4), "big"))
    query = {
        "signature": sign(token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": "x",
    }
    if not safe:
        return query, xml
    encrypted = encrypt(xml)
    query |= {"encrypt_type": "aes", "msg_signature": sign(token, stamp, nonce, encrypted)}
    body = (
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    return query, body


def open_reply(text: str, query: dict[str, str], safe: bool, token: str = TOKEN) -> str:
    """The reply XML, checked and decrypted as WeChat would in safe mode."""
    if not safe or text == "success":
        return text
    root = ElementTree.fromstring(text)
    encrypted = root.findtext("Encrypt") or ""
    expected = sign(
        token, root.findtext("TimeStamp") or "", root.findtext("Nonce") or "", encrypted
    )
    assert root.findtext("MsgSignature") == expected, "reply signature does not check"
    message, app_id = decrypt(encrypted)
    assert app_id == APP_ID
    return message
