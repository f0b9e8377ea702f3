"""A WeChat user for tests: real message XML (tests/payloads/wechat) signed, and in safe mode
encrypted, the way WeChat does it, posted to /wechat; the reply read back the same way."""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from defusedxml import ElementTree

from bot.channels.wechat.inbound import WECHAT
from bot.config import Settings
from bot.store import Store
from tests.fakes.wechat import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeWeChat,
    callback_request,
    open_reply,
)
from tests.kit.paths import TESTS

PAYLOADS = TESTS / "payloads" / "wechat"
_ids = itertools.count(24_000_000_000)
_clock = itertools.count(int(time.time()) - 3000)


def xml_of(name: str, **fields: Any) -> str:
    """A stored payload with its placeholders filled in."""
    return (PAYLOADS / f"{name}.xml").read_text(encoding="utf-8").format(**fields)


@dataclass
class Reply:
    """A passive reply, parsed."""

    raw: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.fields.get("Content", "")

    @property
    def kind(self) -> str:
        return self.fields.get("MsgType", "success" if self.raw == "success" else "")


@dataclass
class WeChatUser:
    """One follower talking to the account."""

    client: TestClient[Any, Any]
    fake: FakeWeChat
    openid: str
    safe: bool = False
    last: Reply = field(default_factory=lambda: Reply(""))
    status: int = 0
    agrees: bool = True  # answers the privacy notice (1: agree, 3: aged 14-55) when it comes

    async def say(self, content: str, msgid: int | None = None) -> Reply:
        return await self.post(
            xml_of(
                "text",
                openid=self.openid,
                time=next(_clock),
                msgid=msgid or next(_ids),
                content=content,
            )
        )

    async def event(self, name: str, **fields: Any) -> Reply:
        return await self.post(xml_of(name, openid=self.openid, time=next(_clock), **fields))

    async def send(self, name: str) -> Reply:
        """A stored non-text message (image, voice, location...)."""
        return await self.post(
            xml_of(name, openid=self.openid, time=next(_clock), msgid=next(_ids))
        )

    async def post(self, xml: str) -> Reply:
        query, body = callback_request(xml, self.safe)
        response = await self.client.post("/wechat", params=query, data=body.encode())
        self.status = response.status
        text = await response.text()
        assert response.status == 200, text
        await self.client.app[WECHAT].drain()
        plain = open_reply(text, query, self.safe)
        fields = {}
        if plain != "success":
            fields = {child.tag: (child.text or "") for child in ElementTree.fromstring(plain)}
            image = ElementTree.fromstring(plain).find("Image")
            if image is not None:
                fields["MediaId"] = image.findtext("MediaId") or ""
        self.last = Reply(plain, fields)
        if self.agrees and "/privacy?lang=" in self.last.text and "/forget" in self.last.text:
            await self.say("1")
            await self.say("3")
        return self.last


def wechat_settings(settings: Settings, store: Store, fake: FakeWeChat, safe: bool) -> Settings:
    return dataclasses.replace(
        settings,
        key_prefix=store.prefix,
        wechat_token=TOKEN,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_encoding_aes_key=AES_KEY if safe else None,
        wechat_api_base_url=fake.url,
        wechat_admin_openids=frozenset({"o_admin"}),
    )
