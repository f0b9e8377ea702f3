"""WeChat Official Account: the callback in plain and safe mode, against a fake WeChat API, with
requests signed and encrypted by the tests following WeChat's documented algorithm."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.port import Port
from bot.channels.wechat import inbound as wechat
from bot.channels.wechat.inbound import MENU, create_menu, make_api
from bot.channels.wechat.outlet import pieces
from bot.config import Settings
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.services.pledges import Pledge
from bot.store import Store
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.fakes.wechat import (
    TOKEN,
    FakeWeChat,
    callback_request,
    sign,
)
from tests.kit.fulfil import pay, photo
from tests.kit.store import contents
from tests.kit.wechat import WeChatUser, wechat_settings, xml_of


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat() as fake:
        yield fake


@pytest.fixture(params=[False, True], ids=["plain", "safe"])
def safe(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
async def client(
    settings: Settings, store: Store, runtime: Runtime, fake: FakeWeChat, safe: bool
) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(wechat_settings(settings, store, fake, safe), runtime)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def user(client: TestClient[Any, Any], fake: FakeWeChat, safe: bool) -> WeChatUser:
    return WeChatUser(client, fake, openid="oABCD1234zhang", safe=safe)


async def to_confirmation(user: WeChatUser) -> None:
    """Walk a donation of 100 yuan to the question that confirms it; the base's picture,
    sent by service on the way, is then forgotten by the fake."""
    for text in ("/pledge", "金匮", "捐资", "100", "张三"):
        await user.say(text)
    await user.client.app[wechat.WECHAT].drain()
    user.fake.forget()


async def deliver(user: WeChatUser, runtime: Runtime) -> None:
    """Run the worker once, sending through this app's WeChat outlet."""
    channel = user.client.app[wechat.WECHAT]
    await Worker(runtime, Port({"wechat": channel.outlet}, runtime.store.users)).run_once()


async def to_certificate(user: WeChatUser, runtime: Runtime) -> None:
    """Pledge 100 yuan, pay it (a receipt imported) and open /mine: "1" then shows the
    certificate as the passive reply."""
    await to_confirmation(user)
    await user.say("1")
    assert await pay(runtime, f"wechat:{user.openid}")
    await user.say("/mine")
    assert "1. WX20" in user.last.text


async def test_url_verification_echoes_echostr(client: TestClient[Any, Any]) -> None:
    stamp, nonce = str(int(time.time())), "12345"
    good = {
        "signature": sign(TOKEN, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "echostr": "echo-9876",
    }
    response = await client.get("/wechat", params=good)
    assert response.status == 200 and await response.text() == "echo-9876"
    bad = dict(good, signature="0" * 40)
    assert (await client.get("/wechat", params=bad)).status == 403
    old = str(int(time.time()) - 600)
    stale = dict(good, timestamp=old, signature=sign(TOKEN, old, nonce))
    assert (await client.get("/wechat", params=stale)).status == 403
    assert (await client.get("/wechat")).status == 403


async def test_the_whole_journey(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime, safe: bool
) -> None:
    await user.event("subscribe")
    assert "网上尽责" in user.last.text and "1. 🌳 我要尽责" in user.last.text
    assert await runtime.store.users.is_subscribed(UserKey(f"wechat:{user.openid}"))
    await user.say("1")
    assert "省级基地" in user.last.text and "1. 无锡经开区金匮公园" in user.last.text
    await user.say("金匮")
    assert "以哪种方式尽责" in user.last.text
    assert "地址：" in user.last.text
    assert "地图：https://trees.example.org/map/jinkui" in user.last.text
    await user.client.app[wechat.WECHAT].drain()
    (picture,) = fake.sent_to(user.openid)  # the base's picture follows by service
    assert picture["msgtype"] == "image"
    fake.forget()
    await user.say("捐资")
    await user.say("100")
    assert "100 元折合植树 5 株" in user.last.text
    await user.say("张三丰")
    assert "证书姓名：张三丰" in user.last.text
    await user.say("1")  # 1. ✅ 确认提交
    assert "捐资 100 元" in user.last.text and "备注" in user.last.text  # how to pay
    assert fake.of("media/upload") == []  # nothing paid, no certificate
    await pay(runtime, f"wechat:{user.openid}")
    await deliver(user, runtime)  # within 48 hours: a customer-service text and image
    text, image = fake.sent_to(user.openid)
    assert "WX20" in text["text"]["content"] and image["msgtype"] == "image"
    (upload,) = fake.of("media/upload")
    assert upload.query["type"] == "image" and upload.body["size"] > 10_000
    await user.say("/mine")
    assert "已完成 · 证书 WX20" in user.last.text
    await user.say("1")  # 1. WX2026-... : the certificate again, as the passive reply
    assert user.last.kind == "image" and user.last.fields["MediaId"].startswith("MEDIA-")
    assert len(fake.of("media/upload")) == 1  # its media id is kept
    summary = await runtime.pledges.year_summary(f"wechat:{user.openid}", 2026)
    assert summary.pledges[0].amount_yuan == 100 and summary.pledges[0].serial


async def test_english_from_the_profile_then_lang(
    client: TestClient[Any, Any], fake: FakeWeChat, safe: bool
) -> None:
    fake.languages["oENGLISH"] = "en"
    english = WeChatUser(client, fake, openid="oENGLISH", safe=safe)
    await english.say("hello")
    assert "Sorry, I didn't get that" in english.last.text
    assert fake.of("user/info")[0].query["openid"] == "oENGLISH"
    await english.say("/help")
    assert "yearly duty" in english.last.text
    assert len(fake.of("user/info")) == 1  # the profile is read once
    chinese = WeChatUser(client, fake, openid="oCHINESE", safe=safe)
    await chinese.say("/lang")
    await chinese.say("English")
    assert "Language set to English" in chinese.last.text


async def test_menu_clicks_drive_the_bot(user: WeChatUser) -> None:
    await user.event("click", key="PLEDGE")
    assert "请选择尽责基地" in user.last.text
    await user.event("click", key="MINE")
    assert "还没有尽责记录" in user.last.text
    await user.event("click", key="HELP")
    assert "/pledge" in user.last.text


@pytest.mark.parametrize("name", ["voice", "location"])
async def test_other_message_types_get_a_hint(user: WeChatUser, name: str) -> None:
    await user.send(name)
    assert "我只能看懂文字和按钮" in user.last.text


async def test_an_image_is_explained_when_it_cannot_be_used(
    user: WeChatUser, fake: FakeWeChat
) -> None:
    await user.send("image")  # its media id is unknown to WeChat
    assert "这个文件打不开" in user.last.text
    fake.media["media_id_of_the_photo"] = photo()
    await user.send("image")  # a good photo, but no pledge waits for one
    assert "没有需要照片凭证的承诺" in user.last.text


@pytest.mark.parametrize("name", ["unknown_event", "view"])
async def test_other_events_get_success(user: WeChatUser, name: str) -> None:
    assert (await user.event(name)).raw == "success"


async def test_unfollowing_unsubscribes(user: WeChatUser, runtime: Runtime) -> None:
    await user.event("subscribe")
    assert (await user.event("unsubscribe")).raw == "success"
    assert not await runtime.store.users.is_subscribed(UserKey(f"wechat:{user.openid}"))


async def test_a_retried_message_gets_the_same_reply_and_no_second_effect(
    user: WeChatUser, runtime: Runtime, fake: FakeWeChat
) -> None:
    await to_confirmation(user)
    first = await user.say("1", msgid=777)
    again = await user.say("1", msgid=777)
    assert "备注" in first.text and again.fields == first.fields
    assert len(await runtime.store.pledges.of_user(UserKey(f"wechat:{user.openid}"))) == 1


async def test_a_text_reply_is_kept_with_the_turns_save(
    user: WeChatUser, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def apart(*_: Any) -> None:
        raise AssertionError("a text reply is kept in the turn's last round trip")

    await user.say("/start")
    monkeypatch.setattr(runtime.store.turns, "cache_reply", apart)
    first = await user.say("/help", msgid=778)
    again = await user.say("/help", msgid=778)  # WeChat's retry: the kept reply
    assert "/pledge" in first.text and again.fields == first.fields


async def test_a_retried_event_gets_the_same_reply(user: WeChatUser) -> None:
    xml = xml_of("subscribe", openid=user.openid, time=1764300000)
    first = await user.post(xml)
    again = await user.post(xml)
    assert "网上尽责" in first.text and again.fields == first.fields


async def test_bad_signatures_are_403_and_record_nothing(
    client: TestClient[Any, Any], runtime: Runtime, safe: bool
) -> None:
    xml = xml_of("text", openid="oBAD", time=int(time.time()), msgid=1, content="/start")
    query, body = callback_request(xml, safe, token="not-our-token")  # noqa: S106
    response = await client.post("/wechat", params=query, data=body.encode())
    assert response.status == 403
    query, body = callback_request(xml, safe, timestamp=int(time.time()) - 3600)
    assert (await client.post("/wechat", params=query, data=body.encode())).status == 403
    assert not await runtime.store.redis.keys(f"{runtime.store.prefix}{{u:wechat:oBAD}}*")


@pytest.mark.parametrize("safe", [True], ids=["safe"])
async def test_a_bad_msg_signature_is_403_in_safe_mode(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    xml = xml_of("text", openid="oBAD", time=int(time.time()), msgid=1, content="/start")
    query, body = callback_request(xml, safe=True)
    query["msg_signature"] = "f" * 40
    before = await contents(runtime.store)
    assert (await client.post("/wechat", params=query, data=body.encode())).status == 403
    assert await contents(runtime.store) == before


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        BOMB,
        "not xml at all",
        "<xml><MsgType>text</MsgType></xml>",  # required fields missing
        "<xml><ToUserName>a</ToUserName>",
        '<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><xml/>',
        "",
    ],
)
async def test_junk_and_hostile_xml_get_400(
    client: TestClient[Any, Any], runtime: Runtime, body: str
) -> None:
    query, _ = callback_request("<xml/>", safe=False)
    before = await contents(runtime.store)
    response = await client.post("/wechat", params=query, data=body.encode())
    assert response.status == 400
    assert await contents(runtime.store) == before
    assert (await client.get("/healthz")).status == 200


async def test_a_3mb_body_gets_413(client: TestClient[Any, Any], runtime: Runtime) -> None:
    query, _ = callback_request("<xml/>", safe=False)
    body = b"<xml><Content>" + b"x" * (3 * 1024 * 1024) + b"</Content></xml>"
    before = await contents(runtime.store)
    response = await client.post("/wechat", params=query, data=io.BytesIO(body))
    assert response.status == 413
    assert await contents(runtime.store) == before


async def test_token_expiry_mid_journey_is_refreshed(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    await to_certificate(user, runtime)
    tokens_before = len(fake.of("token"))
    fake.expire_tokens()
    await user.say("1")
    assert user.last.kind == "image"
    assert len(fake.of("token")) == tokens_before + 1
    assert fake.sent_to(user.openid)


async def test_passive_image_falls_back_to_a_service_message_when_slow(
    user: WeChatUser, fake: FakeWeChat, monkeypatch: pytest.MonkeyPatch, runtime: Runtime
) -> None:
    monkeypatch.setattr(wechat, "PASSIVE_BUDGET_S", 0.05)
    fake.delays["media/upload"] = 0.3
    await to_certificate(user, runtime)
    await user.say("1")
    assert user.last.kind == "text" and "WX20" in user.last.text
    (image,) = fake.sent_to(user.openid)
    assert image["msgtype"] == "image" and image["image"]["media_id"].startswith("MEDIA-")


async def test_45015_marks_the_user_unreachable(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    await to_certificate(user, runtime)
    fake.fail("message/custom/send", 45015)
    await user.say("1")
    assert user.last.kind == "image"
    assert await runtime.store.users.is_unreachable(UserKey(f"wechat:{user.openid}"))


async def test_busy_is_retried(user: WeChatUser, fake: FakeWeChat, runtime: Runtime) -> None:
    await to_certificate(user, runtime)
    fake.fail("media/upload", -1)
    await user.say("1")
    assert user.last.kind == "image" and len(fake.of("media/upload")) == 2


async def test_two_processes_share_one_token(
    settings: Settings, store: Store, fake: FakeWeChat, redis_url: str
) -> None:
    config = wechat_settings(settings, store, fake, safe=False)
    first, second = make_api(config, redis_url), make_api(config, redis_url)
    try:
        await first.send_text("o1", "hello")
        await second.send_text("o2", "hello")
        assert len(fake.of("token")) == 1
        fake.expire_tokens()
        barrier = threading.Barrier(4)

        def refresh_together(api: Any) -> None:
            barrier.wait()
            api.client.message.send_text("o3", "again")

        await asyncio.gather(
            *(asyncio.to_thread(refresh_together, api) for api in (first, second, first, second))
        )
        assert len(fake.of("token")) == 2  # one refresh for everyone
    finally:
        first.close()
        second.close()


async def test_the_api_client_takes_its_proxy_from_the_environment_at_start(
    settings: Settings,
    store: Store,
    fake: FakeWeChat,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = wechat_settings(settings, store, fake, safe=False)
    with socket.socket() as closed:  # a proxy address nothing listens on
        closed.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = make_api(config, redis_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # read at start: the first client keeps its proxy
    bypassing = make_api(config, redis_url)
    try:
        with pytest.raises(requests.exceptions.ProxyError):  # through the proxy not there
            await asyncio.to_thread(proxied.client.message.send_text, "o1", "hello")
        await bypassing.send_text("o2", "hello")  # straight to the API, as NO_PROXY says
        assert [c.body["touser"] for c in fake.of("message/custom/send")] == ["o2"]
        assert not proxied.client._http.trust_env  # not read again on every call
    finally:
        proxied.close()
        bypassing.close()


async def test_the_menu_command_creates_three_items(
    settings: Settings, store: Store, fake: FakeWeChat, redis_url: str
) -> None:
    await create_menu(wechat_settings(settings, store, fake, safe=False), redis_url)
    (call,) = fake.of("menu/create")
    assert call.body == MENU and len(call.body["button"]) <= 3
    assert all(len(b.get("sub_button", [])) <= 5 for b in call.body["button"])


async def test_without_wechat_settings_the_callback_is_closed(
    settings: Settings, runtime: Runtime
) -> None:
    async with TestClient(TestServer(create_app(settings, runtime))) as client:
        query, body = callback_request("<xml/>", safe=False)
        before = await contents(runtime.store)
        assert (await client.post("/wechat", params=query, data=body.encode())).status == 403
        assert await contents(runtime.store) == before


async def test_a_token_wechat_keeps_refusing_does_not_loop(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    await to_certificate(user, runtime)
    fake.fail("media/upload", 40001, 40001, 40001, 40001)
    await user.say("1")
    assert user.last.kind == "text" and "WX20" in user.last.text  # the certificate, as text
    assert len(fake.of("media/upload")) == 2  # the call and one retry after a refresh


async def test_the_whole_journey_in_english(
    client: TestClient[Any, Any], fake: FakeWeChat, runtime: Runtime, safe: bool
) -> None:
    fake.languages["oJANE"] = "en"
    jane = WeChatUser(client, fake, openid="oJANE", safe=safe)
    await jane.event("subscribe")
    assert "Hello" in jane.last.text and "1. 🌳 Pledge" in jane.last.text
    await jane.say("1")
    assert "Provincial bases" in jane.last.text
    await jane.say("changguangxi")
    await jane.say("adoption")
    await jane.say("5")
    await jane.say("Jane <Doe> & co")
    assert "Name on the certificate: Jane <Doe> & co" in jane.last.text
    await jane.say("confirm")
    assert "100 yuan" in jane.last.text and "remark" in jane.last.text  # 5 trees at 20 yuan
    await client.app[wechat.WECHAT].drain()
    fake.forget()  # the base's picture, sent when it was chosen
    await pay(runtime, "wechat:oJANE")
    await deliver(jane, runtime)
    text, image = fake.sent_to("oJANE")
    assert "certificate" in text["text"]["content"] and image["msgtype"] == "image"
    summary = await runtime.pledges.year_summary("wechat:oJANE", 2026)
    assert summary.pledges[0].locale == "en" and summary.pledges[0].trees == 5


async def test_booking_by_numbers_and_a_reminder_on_wechat(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    start = int(time.time()) + 10 * 3600
    slot = await runtime.bookings.add_slot("jinkui", start, start + 3 * 3600, 5, "植树")
    await user.event("subscribe")
    await user.say("2")  # 2. 📅 预约志愿服务
    assert "想去哪个基地" in user.last.text and "1. 无锡经开区金匮公园" in user.last.text
    await user.say("1")
    assert "剩 5/5" in user.last.text and "交通：" in user.last.text  # where the base is
    await user.client.app[wechat.WECHAT].drain()
    fake.forget()  # its picture
    await user.say("1")
    assert "证书上印什么姓名" in user.last.text  # none on file: asked before booking
    await user.say("王小红")
    assert "预约成功" in user.last.text and "签到码" in user.last.text
    assert "/map/jinkui" in user.last.text
    assert list(await runtime.bookings.slots.volunteers(slot.id)) == [f"wechat:{user.openid}"]
    channel = user.client.app[wechat.WECHAT]
    await channel.drain()
    (qr,) = fake.sent_to(user.openid)  # the check-in code as a QR image, by service
    assert qr["msgtype"] == "image"
    await Worker(runtime, Port({"wechat": channel.outlet}, runtime.store.users)).run_once()
    (_, reminder) = fake.sent_to(user.openid)
    assert "⏰" in reminder["text"]["content"] and "/bookings" in reminder["text"]["content"]
    assert "地图：https://trees.example.org/map/jinkui" in reminder["text"]["content"]


async def test_a_number_question_does_not_number_its_quick_picks(
    user: WeChatUser, runtime: Runtime
) -> None:
    for text in ("/pledge", "金匮", "捐资"):
        await user.say(text)
    assert "回复数字，如 60 元、100 元、200 元；或回复 ⬅ 返回 / ✖ 取消" in user.last.text
    assert "1. 60 元" not in user.last.text
    for typed in ("1", "4", "19"):  # once the positions of 60 元 and 返回: now amounts
        await user.say(typed)
        assert "至少 20 元" in user.last.text
    await user.say("返回")
    assert "以哪种方式尽责" in user.last.text
    await user.say("认种认养")
    assert "回复数字，如 3 株、5 株、10 株" in user.last.text
    await user.say("5")  # once the position of 取消: now five trees
    await user.say("张三")
    assert "株数：5 株" in user.last.text
    assert await runtime.store.pledges.of_user(UserKey(f"wechat:{user.openid}")) == {}


def test_text_is_cut_into_pieces_wechat_keeps_whole() -> None:
    lines = [f"{i}. 无锡经开区金匮公园 · 捐资捐物 · 5 株 · 已完成" for i in range(120)]
    cut = pieces("\n".join(lines))
    assert len(cut) > 1 and all(len(p.encode()) <= 2000 for p in cut)
    assert "\n".join(cut) == "\n".join(lines)  # cut between lines only
    long_line = "植" * 1500  # 4,500 bytes on one line: cut between characters
    assert "".join(pieces(long_line)) == long_line
    assert all(len(p.encode()) <= 2000 for p in pieces(long_line))


async def test_a_long_reply_is_split_and_the_rest_follows_by_service(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    for i in range(40):
        pledge = Pledge(
            id=f"LONG{i:06d}",
            user_key=UserKey(f"wechat:{user.openid}"),
            base="changguangxi",
            form="adoption",
            trees=1,
            amount_yuan=0,
            name="张三",
            locale="zh",
            created="2026-03-12T01:00:00+00:00",
        )
        await runtime.pledges.confirm(pledge)
    await user.say("/mine")
    first = user.last.text
    assert len(first.encode()) <= 2000 and "2026" in first
    rest = [m["text"]["content"] for m in fake.sent_to(user.openid)]
    assert rest and all(len(r.encode()) <= 2000 for r in rest)
    whole = "\n".join([first, *rest])
    assert whole.count("• 2026-03-12 滨湖区长广溪国家湿地公园") == 40  # every line, once


async def test_an_image_claim_approved_brings_the_certificate(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    for text in ("/pledge", "金匮", "捐物", "200", "张三", "1"):
        await user.say(text)
    assert "捐赠物品或收据的照片" in user.last.text
    await user.client.app[wechat.WECHAT].drain()
    fake.forget()
    fake.media["media_id_of_the_photo"] = b"not a picture at all"
    await user.send("image")
    assert "不像是一张照片" in user.last.text
    fake.media["media_id_of_the_photo"] = photo()
    await user.send("image")
    assert "已收到" in user.last.text
    (claim,) = await runtime.claims.waiting()
    await runtime.claims.decide(claim.id, True, Actor.chat_admin("wechat:o_admin"))
    await deliver(user, runtime)
    text, image = fake.sent_to(user.openid)
    assert "WX20" in text["text"]["content"] and image["msgtype"] == "image"


async def test_the_notice_reads_as_a_numbered_list_and_mydata_is_a_signed_link(
    client: TestClient[Any, Any], fake: FakeWeChat, safe: bool
) -> None:
    reader = WeChatUser(client, fake, openid="oPrivacyReader01", safe=safe, agrees=False)
    notice = await reader.say("/pledge")
    assert "运营方" in notice.text and "1. ✅ 同意并继续" in notice.text
    assert "https://trees.example.org/privacy?lang=zh" in notice.text
    assert "3. 14–55 周岁" in (await reader.say("1")).text
    assert "请选择尽责基地" in (await reader.say("3")).text
    mine = await reader.say("/mydata")
    assert "隐私告知：第 1 版" in mine.text
    link = mine.text.rsplit("：", 1)[1].split()[0]
    assert link.startswith("https://trees.example.org/mydata/")
    got = await client.get(link.removeprefix("https://trees.example.org"))
    assert got.status == 200 and (await got.json())["user"] == "wechat:oPrivacyReader01"


async def test_a_team_and_a_share_poster_in_numbered_text(
    user: WeChatUser, fake: FakeWeChat, runtime: Runtime
) -> None:
    await user.say("/team")
    assert "1. ➕ 建立团队" in user.last.text and "2. 🔑 用加入码加入" in user.last.text
    await user.say("1")
    await user.say("绿色先锋队")
    assert "1. 不限基地" in user.last.text
    await user.say("1")
    made = await user.say("100")
    (team,) = await runtime.teams.all()
    assert f"/join {team.code}" in made.text and "绿色先锋队" in made.text
    await to_confirmation(user)
    await user.say("1")  # confirm
    serial = await pay(runtime, f"wechat:{user.openid}")
    assert serial is not None and (await runtime.teams.progress(team)).fulfilled == 5
    mine = await user.say("/mine")
    assert "2. 📤 分享：无锡经开区金匮公园" in mine.text
    await user.client.app[wechat.WECHAT].drain()
    shared = await user.say("2")
    assert shared.kind == "image"  # the poster, as the passive reply
