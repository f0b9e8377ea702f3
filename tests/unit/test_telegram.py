"""Telegram through the real python-telegram-bot client against a fake Bot API on 127.0.0.1,
by webhook and by long polling."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from telegram.error import TelegramError

from bot.channels.pacing import PUSH_BURST, SharedBudget
from bot.channels.port import Port
from bot.channels.telegram import inbound, updates
from bot.channels.telegram.http import AiohttpRequest
from bot.channels.telegram.inbound import (
    ALLOWED_UPDATES,
    COMMANDS,
    SECRET_HEADER,
    TELEGRAM,
    set_webhook,
)
from bot.channels.telegram.outlet import chunks
from bot.config import Settings
from bot.model import Delivery, Message, Turn, UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.store import Store, connect
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.fakes.telegram import FakeTelegram, Fault
from tests.kit.fulfil import pay, photo
from tests.kit.servers import CLUSTER
from tests.kit.store import contents
from tests.kit.telegram import SECRET, TelegramUser, payload, telegram_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def open_client(
    settings: Settings, runtime: Runtime, fake: FakeTelegram, polling: bool
) -> TestClient[Any, Any]:
    app = create_app(telegram_settings(settings, fake, polling), runtime)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def webhook(
    settings: Settings, runtime: Runtime, fake: FakeTelegram
) -> AsyncIterator[TestClient[Any, Any]]:
    client = await open_client(settings, runtime, fake, polling=False)
    yield client
    await client.close()


@pytest.fixture
def user(webhook: TestClient[Any, Any], fake: FakeTelegram) -> TelegramUser:
    return TelegramUser(webhook, fake, user_id=424242)


async def to_name(user: TelegramUser) -> None:
    """Walk a donation of 100 yuan to the question that asks for the name."""
    await user.say("/start")
    await user.tap("menu:pledge")
    await user.tap("base:jinkui")
    await user.tap("form:donation")
    await user.say("100")


async def deliver(user: TelegramUser, runtime: Runtime) -> None:
    """Run the worker once, sending through this app's Telegram outlet."""
    channel = user.client.app[TELEGRAM]
    await Worker(runtime, Port({"telegram": channel.outlet}, runtime.store.users)).run_once()


async def walk_to_certificate(user: TelegramUser, name: str, runtime: Runtime) -> None:
    """Pledge 100 yuan, pay it (a receipt imported), and have the certificate delivered."""
    await to_name(user)
    await user.say(name)
    await user.tap("confirm")
    assert await pay(runtime, f"telegram:{user.user_id}")


@pytest.mark.parametrize(
    ("polling", "language"),
    [(False, "zh-hans"), (True, "en"), (False, "en-US"), (True, "zh-hant")],
)
async def test_the_whole_journey(
    settings: Settings, runtime: Runtime, fake: FakeTelegram, polling: bool, language: str
) -> None:
    client = await open_client(settings, runtime, fake, polling)
    try:
        user = TelegramUser(client, fake, user_id=5001, language=language, polling=polling)
        chinese = language.startswith("zh")
        await user.say("/start")
        assert ("网上尽责" if chinese else "Hello") in user.text
        assert user.buttons[0] == "menu:pledge"
        await user.tap("menu:pledge")
        assert len([b for b in user.buttons if b.startswith("base:")]) == 8
        await user.tap("base:jinkui")
        (card,) = user.replies  # the base's card is one message: picture, lines and question
        assert card.method == "sendPhoto" and "/map/jinkui" in card.params["caption"]
        assert ("哪种方式尽责" if chinese else "How would you") in card.params["caption"]
        pin = next(b for b in user.buttons if b.startswith("map:"))
        await user.tap(pin)  # the pin on request; the question stays open
        (venue,) = fake.of("sendVenue")
        title = venue.params["title"]
        assert float(venue.params["latitude"]) > 31 and ("金匮" in title or "Jinkui" in title)
        await user.tap("form:donation")
        await user.say("100")
        assert "name:suggested" in user.buttons  # the Telegram name is offered
        await user.tap("name:suggested")
        await user.tap("confirm")
        assert ("备注" if chinese else "remark") in user.text  # how to pay, with a reference
        assert fake.certificates() == []  # nothing paid yet, no certificate
        await pay(runtime, "telegram:5001")
        await deliver(user, runtime)
        (photo,) = fake.certificates()
        assert photo.params["photo"]["size"] > 10_000
        assert "WX20" in photo.params["caption"] and photo.params["parse_mode"] == "HTML"
        assert ("证书" if chinese else "certificate") in photo.params["caption"]
        edits = fake.of("editMessageReplyMarkup")  # 2: notice, age; not the map's
        assert len(edits) == len(fake.of("answerCallbackQuery")) - 1 == 7
        summary = await runtime.pledges.year_summary("telegram:5001", 2026)
        assert summary.pledges[0].name == "三丰 张"
    finally:
        await client.close()


async def test_commands_are_published_in_both_languages(
    user: TelegramUser, fake: FakeTelegram
) -> None:
    calls = fake.of("setMyCommands")
    assert {c.params.get("language_code") for c in calls} == {"zh", None}
    for call in calls:
        assert [c["command"] for c in call.params["commands"]] == list(COMMANDS)
    assert fake.of("getMe")


async def test_polling_deletes_the_webhook_first(
    settings: Settings, runtime: Runtime, fake: FakeTelegram
) -> None:
    client = await open_client(settings, runtime, fake, polling=True)
    try:
        user = TelegramUser(client, fake, user_id=5002, polling=True)
        await user.say("/help")
        assert "/pledge" in user.text
        assert fake.of("deleteWebhook")
        updates = fake.of("getUpdates")[0]
        assert updates.params["allowed_updates"] == list(ALLOWED_UPDATES)
    finally:
        await client.close()


@pytest.mark.parametrize("header", [None, "wrong-secret", SECRET + "x", ""])
async def test_a_missing_or_wrong_secret_is_403_and_records_nothing(
    webhook: TestClient[Any, Any], fake: FakeTelegram, runtime: Runtime, header: str | None
) -> None:
    headers = {SECRET_HEADER: header} if header is not None else {}
    response = await webhook.post("/telegram", json=payload("message_text"), headers=headers)
    assert response.status == 403
    await asyncio.sleep(0.05)
    assert fake.sent() == []
    assert not await runtime.store.redis.keys(f"{runtime.store.prefix}*")


async def test_without_a_configured_secret_the_webhook_is_closed(
    client_without_telegram: TestClient[Any, Any], runtime: Runtime
) -> None:
    before = await contents(runtime.store)
    response = await client_without_telegram.post(
        "/telegram", json=payload("message_text"), headers={SECRET_HEADER: "anything"}
    )
    assert response.status == 403
    assert await contents(runtime.store) == before


@pytest.fixture
async def client_without_telegram(
    settings: Settings, runtime: Runtime
) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        yield client


async def test_a_replayed_update_has_one_effect(
    webhook: TestClient[Any, Any], user: TelegramUser, fake: FakeTelegram, runtime: Runtime
) -> None:
    await to_name(user)
    await user.say("张三")
    confirm = user.callback_update("confirm")
    await user.send(confirm)
    requests = [c for c in fake.calls if not c.answered]
    again = await webhook.post("/telegram", json=confirm, headers={SECRET_HEADER: SECRET})
    assert again.status == 200  # Telegram sends the same update_id again
    await webhook.app[TELEGRAM].drain()
    assert [c for c in fake.calls if not c.answered] == requests  # no request of ours again
    assert len(await runtime.store.pledges.of_user(UserKey("telegram:424242"))) == 1


async def test_malformed_and_odd_updates_never_give_5xx(
    webhook: TestClient[Any, Any], user: TelegramUser, fake: FakeTelegram
) -> None:
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    for body in (
        b"{not json",
        b"[]",
        b'{"update_id": "x"}',
        b'{"update_id": 1, "message": 5}',
        b'{"update_id": 2, "message": {"chat": 3}}',
        b"\x00" * 10,
    ):
        response = await webhook.post("/telegram", data=body, headers=headers)
        assert response.status < 500, body
    for name in ("edited_message", "group_message", "channel_post"):
        assert await user.send(user.from_payload(name)) == []  # ignored quietly
    await user.send(user.from_payload("sticker"))
    assert "我只能看懂文字和按钮" in user.text
    await user.send(user.from_payload("photo"))  # a photo Telegram will not give us
    assert "这个文件打不开" in user.text
    assert (await webhook.get("/healthz")).status == 200


async def test_a_stale_button_gets_a_short_answer_and_nothing_twice(
    user: TelegramUser, fake: FakeTelegram
) -> None:
    await user.say("/pledge")
    await user.tap("base:jinkui")
    answered = len(fake.of("answerCallbackQuery"))
    await user.tap("base:guzhuang")  # a button of the base question, pressed from elsewhere
    assert len(fake.of("answerCallbackQuery")) == answered + 1
    assert "按钮已经过期" in user.text
    assert "form:donation" in user.buttons  # the form question again, base unchanged


async def test_every_callback_is_answered_even_when_the_turn_fails(
    user: TelegramUser, fake: FakeTelegram, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime.engine, "handle", broken)
    await user.tap("menu:pledge")
    assert len(fake.of("answerCallbackQuery")) == 1
    assert "出了点问题" in user.text


@pytest.fixture
async def polled(
    settings: Settings, runtime: Runtime, fake: FakeTelegram
) -> AsyncIterator[TelegramUser]:
    """A user whose updates the bot fetches by long polling: every reply is a request of the
    bot's own (no webhook answer to carry it)."""
    client = await open_client(settings, runtime, fake, polling=True)
    yield TelegramUser(client, fake, user_id=424242, polling=True)
    await client.close()


async def test_a_one_message_reply_rides_the_webhook_answer(
    user: TelegramUser, fake: FakeTelegram
) -> None:
    await user.say("/help")
    (reply,) = user.replies
    assert reply.answered and "/pledge" in reply.params["text"]
    await user.tap("menu:pledge")  # the tap's own calls first, the question in the answer
    assert [c.method for c in fake.calls[-3:]] == [
        "answerCallbackQuery",
        "editMessageReplyMarkup",
        "sendMessage",
    ]
    assert fake.calls[-1].answered and not fake.calls[-2].answered
    await user.tap("base:jinkui")  # a picture: sent by the bot itself
    assert [c.answered for c in user.replies] == [False]


async def test_a_reply_the_webhook_cannot_wait_for_is_sent_by_the_bot(
    user: TelegramUser, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbound, "ANSWER_WAIT_S", 0.0)  # Telegram answered before the turn
    await user.say("/help")
    (reply,) = user.replies
    assert not reply.answered and "/pledge" in reply.params["text"]


async def test_429_retry_after_is_waited_out(polled: TelegramUser, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", Fault(429, "Too Many Requests: retry after 1", retry_after=1))
    await polled.say("/help")
    attempts = fake.of("sendMessage")
    assert len(attempts) == 2 and "/pledge" in polled.text
    assert attempts[1].at - attempts[0].at >= 0.9


async def test_5xx_and_network_errors_are_retried(
    polled: TelegramUser, fake: FakeTelegram
) -> None:
    fake.fail("sendMessage", Fault(500, "Internal Server Error"), Fault(502, "Bad Gateway"))
    await polled.say("/help")
    assert len(fake.of("sendMessage")) == 3 and "/pledge" in polled.text


async def test_403_marks_the_user_unsubscribed(
    polled: TelegramUser, fake: FakeTelegram, runtime: Runtime
) -> None:
    await polled.say("/start")
    assert await runtime.store.users.is_subscribed(UserKey("telegram:424242"))
    fake.fail("sendMessage", Fault(403, "Forbidden: bot was blocked by the user"))
    await polled.say("/help")
    assert not await runtime.store.users.is_subscribed(UserKey("telegram:424242"))


async def test_kicked_and_back_follow_my_chat_member(user: TelegramUser, runtime: Runtime) -> None:
    await user.say("/start")
    await user.send(user.from_payload("my_chat_member_kicked"))
    assert not await runtime.store.users.is_subscribed(UserKey("telegram:424242"))
    await user.send(user.from_payload("my_chat_member_member"))
    assert await runtime.store.users.is_subscribed(UserKey("telegram:424242"))


async def test_names_with_markup_characters_show_as_typed(user: TelegramUser) -> None:
    await to_name(user)
    await user.say("<b>A&B</b> *_x_*")
    assert "&lt;b&gt;A&amp;B&lt;/b&gt; *_x_*" in user.text


async def test_callback_data_fits_64_bytes(
    user: TelegramUser, fake: FakeTelegram, runtime: Runtime
) -> None:
    await walk_to_certificate(user, "张三", runtime)
    await user.say("/mine")
    for call in fake.calls:
        for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
            assert all(len(b["callback_data"].encode()) <= 64 for b in row)


async def test_twenty_users_at_once(
    webhook: TestClient[Any, Any], fake: FakeTelegram, runtime: Runtime
) -> None:
    users = [TelegramUser(webhook, fake, user_id=9000 + i) for i in range(20)]
    await asyncio.gather(
        *(walk_to_certificate(u, f"用户{i}", runtime) for i, u in enumerate(users))
    )
    await deliver(users[0], runtime)
    photos = fake.certificates()
    assert sorted(int(p.params["chat_id"]) for p in photos) == [9000 + i for i in range(20)]
    for i in (0, 19):
        summary = await runtime.pledges.year_summary(f"telegram:{9000 + i}", 2026)
        assert summary.pledges[0].name == f"用户{i}"


async def test_set_webhook_registers_secret_and_update_kinds(
    settings: Settings, fake: FakeTelegram
) -> None:
    await set_webhook(
        telegram_settings(settings, fake, polling=False), "https://trees.example.org/telegram"
    )
    (call,) = fake.of("setWebhook")
    assert call.params["url"] == "https://trees.example.org/telegram"
    assert call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == list(ALLOWED_UPDATES)


def test_long_text_is_cut_within_limits_and_never_inside_an_entity() -> None:
    text = "\n".join(["&" * 50] * 300)
    pieces = chunks(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert all(p.count("&") == p.count("&amp;") for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == "&amp;" * 15000


def test_the_bot_apis_answers_read_even_with_bad_bytes() -> None:
    """Answers are parsed by orjson; bytes that are not UTF-8 are replaced as PTB would, and
    what is not JSON at all is PTB's "invalid server response"."""
    read = AiohttpRequest.parse_json_payload
    assert read('{"ok":true,"result":{"text":"张三"}}'.encode()) == {
        "ok": True,
        "result": {"text": "张三"},
    }
    assert read(b'{"ok":true,"result":"a\xffb"}') == {"ok": True, "result": "a\ufffdb"}
    with pytest.raises(TelegramError, match="Invalid server response"):
        read(b"<html>502 Bad Gateway</html>")


async def test_pushes_to_one_chat_are_paced_across_processes_and_replies_are_not(
    store: Store, redis_url: str
) -> None:
    other = Store(connect(redis_url, cluster=CLUSTER), prefix=store.prefix)  # another process
    try:
        budgets = [
            SharedBudget(s.paces, "telegram", rate=1000.0, chat_rate=10.0)  # 10x Telegram's
            for s in (store, other)
        ]
        await budgets[0].wait(41)  # connections made (a cluster client finds its nodes first)
        await budgets[1].wait(41)
        loop = asyncio.get_running_loop()
        start = loop.time()
        times = []
        sends = PUSH_BURST + 3
        for i in range(sends):
            await budgets[i % 2].wait(42)  # alternating processes, one chat
            times.append(loop.time() - start)
        assert times[PUSH_BURST - 1] < 0.05  # a burst of pushes goes at once
        assert times[-1] >= 3 / 10 - 0.02  # then ten a second, whoever sends
        replied = loop.time()
        for _ in range(10):  # the chat's own answers are not held by its pace
            await budgets[0].wait(42, reply=True)
        assert loop.time() - replied < 0.05
        await budgets[0].wait(43)  # another chat is not held back
        assert loop.time() - start - times[-1] < 0.1
        await budgets[1].hold(0.2)  # a 429 seen by one process holds the other too
        held = loop.time()
        await budgets[0].wait(44, reply=True)  # replies too
        assert loop.time() - held >= 0.15
    finally:
        await other.close()


async def test_admins_are_recognised(
    user: TelegramUser, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Turn] = []
    handle = runtime.engine.handle

    async def spy(turn: Turn, *rest: Any) -> list[Message]:
        seen.append(turn)
        return await handle(turn, *rest)

    monkeypatch.setattr(runtime.engine, "handle", spy)
    await user.say("/help")
    admin = TelegramUser(user.client, user.fake, user_id=1)
    await admin.say("/help")
    assert [t.is_admin for t in seen] == [False, True]


async def test_booking_and_a_reminder_on_telegram(
    user: TelegramUser, fake: FakeTelegram, runtime: Runtime
) -> None:
    start = int(time.time()) + 10 * 3600
    slot = await runtime.bookings.add_slot("jinkui", start, start + 3 * 3600, 5, "植树")
    await user.say("/book")
    await user.tap("base:jinkui")
    await user.tap(f"slot:{slot.id}")
    assert "证书上印什么姓名" in user.text and "选择下面的名字" in user.text  # offered
    await user.tap("name:suggested")
    assert "预约成功" in user.text
    channel = user.client.app[TELEGRAM]
    await Worker(runtime, Port({"telegram": channel.outlet}, runtime.store.users)).run_once()
    reminder = fake.sent(user.user_id)[-1]
    assert "⏰" in reminder.params["text"] and "/map/jinkui" in reminder.params["text"]
    assert fake.of("sendVenue") == []  # pins come on request
    buttons = [
        b["callback_data"]
        for row in reminder.params["reply_markup"]["inline_keyboard"]
        for b in row
    ]
    keep, cancel = f"act:keep_booking:{slot.id}", f"act:cancel_booking:{slot.id}"
    assert buttons == [keep, cancel, "map:zh:jinkui"]
    await user.tap(f"act:cancel_booking:{slot.id}")
    await user.tap("cancel-booking")
    assert "已取消预约" in user.text
    assert await runtime.bookings.slots.volunteers(slot.id) == {}


async def test_deep_and_broken_unicode_updates_get_400_and_change_nothing(
    webhook: TestClient[Any, Any], runtime: Runtime, fake: FakeTelegram
) -> None:
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    update = json.dumps(TelegramUser(webhook, fake, user_id=777).message_update("/start"))
    for body in (
        b"[" * 1000 + b"]" * 1000,
        b'{"update_id": 3, "message": ' + b"[" * 200 + b"]" * 200 + b"}",
        update.replace('"/start"', '"/\\ud800"').encode(),
    ):
        response = await webhook.post("/telegram", data=body, headers=headers)
        assert response.status == 400, body[:40]
    await webhook.app[TELEGRAM].drain()
    assert fake.sent(777) == []
    assert not await runtime.store.redis.keys(f"{runtime.store.prefix}*")


async def test_a_photo_claim_approved_brings_the_certificate(
    user: TelegramUser, fake: FakeTelegram, runtime: Runtime
) -> None:
    await user.say("/start")
    for data in ("menu:pledge", "base:jinkui", "form:in_kind"):
        await user.tap(data)
    await user.say("200")
    await user.say("张三")
    await user.tap("confirm")
    assert "捐赠物品或收据的照片" in user.text
    big = user.from_payload("photo")
    big["message"]["photo"][-1]["file_size"] = 30 * 1024 * 1024
    await user.send(big)
    assert "照片太大了" in user.text and fake.of("getFile") == []  # not even fetched
    fake.files["photos/AgACAgIAAxkBAAEC.jpg"] = photo()
    await user.send(user.from_payload("photo"))  # captioned 看我种的树
    assert "已收到" in user.text
    (claim,) = await runtime.claims.waiting()
    assert claim.note == "看我种的树"
    await runtime.claims.decide(claim.id, True, Actor.chat_admin("telegram:1"))
    await deliver(user, runtime)
    (certificate,) = fake.certificates()
    assert "WX20" in certificate.params["caption"]


async def test_mydata_comes_as_a_document(user: TelegramUser, fake: FakeTelegram) -> None:
    await to_name(user)
    await user.say("三丰")
    await user.tap("confirm")
    await user.say("/mydata")
    assert "尽责承诺：1 条" in user.text
    (document,) = fake.of("sendDocument")
    assert document.params["document"]["filename"] == "mydata.json"
    data = document.params["document"]["json"]
    assert data["user"] == "telegram:424242"
    assert [p["name"] for p in data["kept"]["pledges"].values()] == ["三丰"]
    assert "https://trees.example.org/mydata/" in document.params["caption"]
    assert "mydata" in COMMANDS and "privacy" in COMMANDS


async def to_base(user: TelegramUser) -> None:
    """Start and choose a base for a pledge: its card comes."""
    await user.say("/start")
    await user.tap("menu:pledge")
    await user.tap("base:jinkui")


async def test_replies_go_at_once_while_pushes_keep_the_chats_pace(
    settings: Settings, runtime: Runtime, fake: FakeTelegram
) -> None:
    slow = dataclasses.replace(
        telegram_settings(settings, fake, polling=False), telegram_chat_rate=0.01
    )  # one message a chat every 100 s: any wait of ours would show
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(slow, runtime)))
    await client.start_server()
    try:
        user = TelegramUser(client, fake, user_id=6001)
        async with asyncio.timeout(30):
            await to_base(user)
            pin = next(b for b in user.buttons if b.startswith("map:"))
            await user.tap(pin)
            await user.tap("form:donation")
            await user.say("100")
        assert len(fake.sent(6001)) + len(fake.of("sendVenue")) > PUSH_BURST + 1
        outlet = client.app[TELEGRAM].outlet
        for _ in range(PUSH_BURST):  # a burst of pushes goes at once...
            assert await outlet.push("6001", [Message("📣")]) == Delivery.SENT
        with pytest.raises(TimeoutError):  # ...then the chat's pace holds them
            await asyncio.wait_for(outlet.push("6001", [Message("📣")]), 1.0)
    finally:
        await client.close()


async def test_a_bases_picture_goes_up_once_and_again_when_telegram_forgets_it(
    webhook: TestClient[Any, Any], fake: FakeTelegram
) -> None:
    users = [TelegramUser(webhook, fake, user_id=7000 + i) for i in range(4)]
    await to_base(users[0])
    await to_base(users[1])
    assert len(fake.uploads()) == 1 and len(fake.of("sendPhoto")) == 2
    (card,) = users[1].replies  # by the file_id Telegram gave: the same card
    assert card.params["photo"] in fake.photo_ids and "/map/jinkui" in card.params["caption"]
    fake.photo_ids.clear()  # Telegram no longer knows the id (a new bot token, say)
    await to_base(users[2])
    refused, uploaded = users[2].replies
    assert isinstance(refused.params["photo"], str) and len(fake.uploads()) == 2
    assert "/map/jinkui" in uploaded.params["caption"] and "form:donation" in users[2].buttons
    await to_base(users[3])
    assert len(fake.uploads()) == 2  # the new id serves from then on


async def test_a_share_poster_comes_as_a_photo(user: TelegramUser, runtime: Runtime) -> None:
    await walk_to_certificate(user, "张三丰", runtime)
    owner = UserKey(f"telegram:{user.user_id}")
    (pledge,) = (await runtime.pledges.year_summary(owner, time.localtime().tm_year)).certificates
    await user.say("/mine")
    assert f"share:{pledge.serial}" in user.buttons
    await user.tap(f"share:{pledge.serial}")
    (photo,) = [c for c in user.replies if c.method == "sendPhoto"]
    assert photo.params["photo"]["size"] > 50_000 and "长按图片" in photo.params["caption"]


def test_updates_are_read_from_the_bot_apis_json() -> None:
    said = updates.read(payload("message_text"))
    assert said is not None and isinstance(said.event, updates.Said)
    assert said.event.private and said.event.sender is not None
    assert said.event.sender.full_name == "三丰 张" and said.event.sender.language == "zh-hans"
    photo = updates.read(payload("photo"))
    assert photo is not None and isinstance(photo.event, updates.Said)
    assert photo.event.picture == updates.Picture("AgACAgIAAxkBAAEC", 1234)
    assert photo.event.caption == "看我种的树" and photo.event.text is None
    tapped = updates.read(payload("callback_query"))
    assert tapped is not None and isinstance(tapped.event, updates.Tapped)
    assert (tapped.event.data, tapped.event.chat_id, tapped.event.message_id) == (
        "menu:pledge",
        424242,
        12,
    )
    gone = payload("callback_query")  # a tap under a message Telegram no longer shows
    gone["callback_query"].pop("message")
    read = updates.read(gone)
    assert read is not None and isinstance(read.event, updates.Tapped)
    assert read.event.chat_id is None
    kicked = updates.read(payload("my_chat_member_kicked"))
    assert kicked is not None and kicked.event == updates.Membership(424242, True, "kicked")


@pytest.mark.parametrize(
    "data",
    [
        {"update_id": "7", "message": {"chat": {"id": 1}}},  # the id as text
        {"update_id": 7, "message": {"chat": {"id": "1"}}},  # a chat id as text
        {"update_id": 7, "message": [1, 2]},
        {"update_id": 7, "callback_query": {"id": 5, "from": {"id": 1}}},  # a query id as a number
        {"update_id": 7, "callback_query": {"id": "q", "from": "someone"}},
        {"update_id": 7, "my_chat_member": {"from": {"id": 1}, "new_chat_member": {}}},
        {"update_id": 7, "edited_message": {"chat": {"id": 1}, "text": "x"}},  # not handled
        {"update_id": 7},
    ],
)
def test_malformed_updates_and_other_kinds_read_as_nothing(data: dict[str, Any]) -> None:
    assert updates.read(data) is None


def test_odd_fields_read_as_absent() -> None:
    update = payload("photo")
    message = update["message"]
    message["photo"] = [{"file_size": "big"}]  # no id: no picture
    message["from"]["first_name"] = 42  # not text: empty
    message["caption"] = {"x": 1}
    read = updates.read(update)
    assert read is not None and isinstance(read.event, updates.Said)
    assert read.event.picture is None and read.event.caption is None
    assert read.event.sender is not None and read.event.sender.full_name == ""


async def test_an_update_sent_again_after_a_lost_answer_gets_the_same_answer(
    webhook: TestClient[Any, Any], user: TelegramUser, fake: FakeTelegram
) -> None:
    await user.say("/start")
    update = user.message_update("/help")
    headers = {SECRET_HEADER: SECRET}
    sent = len(fake.sent(user.user_id))
    lost = await webhook.post("/telegram", json=update, headers=headers)  # Telegram lost it
    assert lost.status == 200 and len(fake.sent(user.user_id)) == sent
    again = await webhook.post("/telegram", json=update, headers=headers)  # so it retries
    assert await again.json() == await lost.json()
    await fake.answered(again)
    (reply,) = fake.sent(user.user_id)[sent:]
    assert reply.answered and "/pledge" in reply.params["text"]
