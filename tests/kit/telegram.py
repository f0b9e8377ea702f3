"""A Telegram user for tests: sends real update payloads (tests/payloads/telegram) to the bot by
webhook or by long polling, and reads back what the bot sent to the fake Bot API."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient

from bot.channels.telegram.inbound import SECRET_HEADER, TELEGRAM
from bot.config import Settings
from tests.fakes.telegram import Call, FakeTelegram
from tests.kit.paths import TESTS

PAYLOADS = TESTS / "payloads" / "telegram"
SECRET = "webhook-secret-for-tests"  # noqa: S105 - a test value
TOKEN = "123456:TEST-token"  # noqa: S105 - a test value
_update_ids = itertools.count(500_000_000)


def payload(name: str) -> dict[str, Any]:
    """A stored real update."""
    return dict(json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8")))


@dataclass
class TelegramUser:
    """One private chat with the bot."""

    client: TestClient[Any, Any]
    fake: FakeTelegram
    user_id: int
    language: str = "zh-hans"
    first_name: str = "三丰"
    last_name: str | None = "张"
    polling: bool = False
    agrees: bool = True  # answers the privacy notice (agree, adult) when it comes
    replies: list[Call] = field(default_factory=list)

    def _user(self) -> dict[str, Any]:
        user = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language,
        }
        if self.last_name:
            user["last_name"] = self.last_name
        return user

    def message_update(self, text: str) -> dict[str, Any]:
        update = payload("message_text")
        update["update_id"] = next(_update_ids)
        update["message"]["from"] = self._user()
        update["message"]["chat"] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        update["message"]["text"] = text
        update["message"].pop("entities")
        return update

    def callback_update(self, data: str) -> dict[str, Any]:
        update = payload("callback_query")
        update["update_id"] = next(_update_ids)
        query = update["callback_query"]
        query["id"] = str(update["update_id"])
        query["from"] = self._user()
        query["data"] = data
        query["message"]["chat"] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        return update

    def from_payload(self, name: str) -> dict[str, Any]:
        """A stored payload re-addressed to this user."""
        update = copy.deepcopy(payload(name))
        update["update_id"] = next(_update_ids)
        body = next(v for k, v in update.items() if k != "update_id")
        for key in ("from", "chat"):
            if key in body and body[key].get("type", "private") == "private":
                body[key]["id"] = self.user_id
        return update

    async def say(self, text: str) -> list[Call]:
        return await self.send(self.message_update(text))

    async def tap(self, data: str) -> list[Call]:
        return await self.send(self.callback_update(data))

    async def send(self, update: dict[str, Any]) -> list[Call]:
        """Deliver an update and wait until the bot has handled it."""
        before = len(self.fake.sent(self.user_id))
        if self.polling:
            self.fake.push(update)
            for _ in range(1000):
                if self.fake.offset > update["update_id"]:
                    break
                await asyncio.sleep(0.01)
        else:
            response = await self.client.post(
                "/telegram", json=update, headers={SECRET_HEADER: SECRET}
            )
            assert response.status == 200, await response.text()
            await self.fake.answered(response)
        await self.client.app[TELEGRAM].drain()
        self.replies = self.fake.sent(self.user_id)[before:]
        if self.agrees and "privacy:agree" in self.buttons:
            await self.tap("privacy:agree")
            await self.tap("age:adult")
        return self.replies

    @property
    def text(self) -> str:
        """All text the bot sent in answer to the last update."""
        return "\n".join(
            str(c.params.get("text") or c.params.get("caption") or "") for c in self.replies
        )

    @property
    def buttons(self) -> list[str]:
        """callback_data of the keyboard the bot sent last."""
        for call in reversed(self.replies):
            markup = call.params.get("reply_markup")
            if markup:
                return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
        return []


def telegram_settings(settings: Settings, fake: FakeTelegram, polling: bool) -> Settings:
    return dataclasses.replace(
        settings,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=fake.url,
        telegram_webhook_secret=None if polling else SECRET,
        telegram_admin_ids=frozenset({1}),
        telegram_chat_rate=1000.0,  # tests chat faster than people; pacing has its own test
    )
