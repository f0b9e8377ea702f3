"""The output port against real Redis and the fake Telegram and WeChat APIs: every push says
how it went (Delivery), blocked users are unsubscribed, WeChat's 45015 marks the user
unreachable, users without an outlet get a note at their next turn, and a fault in one push is
FAILED, never raised."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from bot.channels.pacing import ACCOUNT_BURST
from bot.channels.platforms import Channels, open_channels
from bot.channels.port import Port
from bot.config import Settings
from bot.model import Button, Delivery, Message, UserKey
from bot.runtime import Runtime
from bot.store import Store
from tests.fakes.telegram import FakeTelegram, Fault
from tests.fakes.wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChat
from tests.kit.chat import Chat

PNG = b"\x89PNG\r\n\x1a\n" + b"appeal" * 100


@pytest.fixture
async def channels(
    runtime: Runtime, settings: Settings, store: Store
) -> AsyncIterator[tuple[Channels, FakeTelegram, FakeWeChat]]:
    async with FakeTelegram() as telegram, FakeWeChat() as wechat:
        config = dataclasses.replace(
            settings,
            key_prefix=store.prefix,
            telegram_bot_token="1:port",  # noqa: S106 - the fake takes any
            telegram_api_base_url=telegram.url,
            telegram_chat_rate=1000.0,
            wechat_token=TOKEN,
            wechat_app_id=APP_ID,
            wechat_app_secret=APP_SECRET,
            wechat_api_base_url=wechat.url,
        )
        async with open_channels(runtime, config) as opened:
            yield opened, telegram, wechat


async def test_telegram_deliveries(
    channels: tuple[Channels, FakeTelegram, FakeWeChat], runtime: Runtime
) -> None:
    opened, telegram, _ = channels
    port = opened.port
    reminder = [Message("⏰ 明天 9:00", (Button("act:keep_booking:1", "好的"),))]
    assert await port.push(UserKey("telegram:7001"), reminder) == Delivery.SENT
    (sent,) = telegram.sent(7001)
    assert sent.params["text"] == "⏰ 明天 9:00" and sent.params["reply_markup"]
    await runtime.store.users.subscribe(UserKey("telegram:7002"))
    telegram.blocked = {7002}
    assert await port.push(UserKey("telegram:7002"), reminder) == Delivery.BLOCKED
    assert not await runtime.store.users.is_subscribed(UserKey("telegram:7002"))
    telegram.fail("sendMessage", Fault(400, "Bad Request: chat not found"))
    assert await port.push(UserKey("telegram:7003"), reminder) == Delivery.FAILED
    assert await port.push(UserKey("telegram:not-a-chat"), reminder) == Delivery.UNREACHABLE
    assert await port.push_to_all("telegram", reminder) == Delivery.UNREACHABLE


async def test_an_image_goes_as_a_photo_with_its_caption(
    channels: tuple[Channels, FakeTelegram, FakeWeChat],
) -> None:
    opened, telegram, _ = channels
    delivery = await opened.port.push(UserKey("telegram:7010"), [Message("植树节", image=PNG)])
    assert delivery == Delivery.SENT
    (photo,) = telegram.of("sendPhoto")
    assert photo.params["caption"] == "植树节" and photo.params["photo"]["size"] == len(PNG)


async def test_wechat_deliveries(
    channels: tuple[Channels, FakeTelegram, FakeWeChat], runtime: Runtime
) -> None:
    opened, _, wechat = channels
    port = opened.port
    notice = [Message("候补成功", (Button("a", "查看"), Button("b", "取消")))]
    assert await port.push(UserKey("wechat:oOK"), notice) == Delivery.SENT
    (text,) = wechat.sent_to("oOK")
    assert text["text"]["content"] == "候补成功\n\n1. 查看\n2. 取消"
    wechat.out_of_window = {"oSILENT"}
    assert await port.push(UserKey("wechat:oSILENT"), notice) == Delivery.NOTED
    assert await runtime.store.users.is_unreachable(UserKey("wechat:oSILENT"))
    appeals = Port(port.outlets, runtime.store.users, note_when_missed=False)
    assert await appeals.push(UserKey("wechat:oSILENT"), [Message("植树节")]) == (
        Delivery.OUTSIDE_WINDOW
    )
    silent = Chat(runtime.engine, user_id="oSILENT", channel="wechat")
    await silent.say("/help")  # when they next write, the notice is there (not the appeal)
    assert silent.replies[0].text == "候补成功\n\n1. 查看\n2. 取消"
    assert "植树节" not in silent.text
    wechat.fail("message/custom/send", 45047)
    assert await port.push(UserKey("wechat:oBUSY"), notice) == Delivery.FAILED
    assert await port.push_to_all("wechat", notice) == Delivery.SENT
    (mass,) = wechat.of("message/mass/sendall")
    assert mass.body["text"]["content"].startswith("候补成功")


async def test_a_wechat_image_is_uploaded_once_for_many_users(
    channels: tuple[Channels, FakeTelegram, FakeWeChat],
) -> None:
    opened, _, wechat = channels
    for openid in ("o1", "o2", "o3"):
        assert await opened.port.push(UserKey(f"wechat:{openid}"), [Message("x", image=PNG)])
    assert len(wechat.of("media/upload")) == 1
    images = [m for m in (c.body for c in wechat.of("message/custom/send")) if "image" in m]
    assert len({m["image"]["media_id"] for m in images}) == 1 and len(images) == 3


async def test_users_without_an_outlet_get_a_note_at_their_next_turn(runtime: Runtime) -> None:
    port = Port({}, runtime.store.users)
    reminder = [Message("⏰ 明天 9:00", (Button("act:keep_booking:1", "好的"),))]
    for user in ("web:v1", "shell:alice", "telegram:8001"):  # no Telegram client here either
        assert await port.push(UserKey(user), reminder) == Delivery.NOTED
    chat = Chat(runtime.engine, user_id="v1", channel="web")
    await chat.say("/help")
    assert chat.replies[0].text == "⏰ 明天 9:00\n\n1. 好的"
    await chat.say("/help")
    assert "⏰" not in chat.replies[0].text  # shown once


async def test_a_fault_in_one_push_is_failed_not_raised(runtime: Runtime) -> None:
    class Broken:
        async def push(self, user_id: str, messages: Sequence[Message]) -> Delivery:
            raise ConnectionResetError("the platform hung up")

        async def push_to_all(self, messages: Sequence[Message]) -> Delivery:
            raise ConnectionResetError("the platform hung up")

    port = Port({"telegram": Broken()}, runtime.store.users)
    assert await port.push(UserKey("telegram:1"), [Message("x")]) == Delivery.FAILED
    assert await port.push_to_all("telegram", [Message("x")]) == Delivery.FAILED


async def test_appeals_pace_every_worker_through_one_shared_moment(
    runtime: Runtime, settings: Settings, store: Store
) -> None:
    async with FakeTelegram() as telegram:
        config = dataclasses.replace(
            settings,
            key_prefix=store.prefix,
            telegram_bot_token="1:port",  # noqa: S106 - the fake takes any
            telegram_api_base_url=telegram.url,
            broadcast_rate=20.0,
        )
        async with (
            open_channels(runtime, config, appeals=True) as first,
            open_channels(runtime, config, appeals=True) as second,
        ):
            begin = time.monotonic()
            for i in range(5):
                for opened in (first, second):
                    await opened.port.push(UserKey(f"telegram:{9000 + i}"), [Message("x")])
            elapsed = time.monotonic() - begin
    assert len(telegram.sent()) == 10
    # ten messages at 20/s overall after a burst of five, whichever port sends
    assert elapsed >= (10 - ACCOUNT_BURST) / 20 - 0.05
