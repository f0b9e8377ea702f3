"""WeChat subscription notifications: grants from WeChat's events (once, ours only), a reminder
after the 48-hour window by subscription when granted and as a note otherwise, the result of a
review the same way, field limits, unset templates, and the /wechat/subscribe page whose
wx.config is signed as WeChat documents."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from defusedxml import ElementTree

from bot.channels.port import Port
from bot.channels.wechat import inbound as wechat
from bot.channels.wechat.notices import fit, template_data
from bot.config import Settings
from bot.model import Brief, Delivery, Message, UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.store import Store
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.fakes.wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChat, callback_request
from tests.kit.fulfil import photo
from tests.kit.slots import add_slot
from tests.kit.wechat import WeChatUser, xml_of

REMIND = "TPL-Remind-0001"
RESULT = "TPL-Result-0002"
OPENID = "oSubscriber00000001"
USER = UserKey.of("wechat", OPENID)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with FakeWeChat() as fake:
        yield fake


def configured(settings: Settings, store: Store, fake: FakeWeChat, **changes: Any) -> Settings:
    wechat_settings: dict[str, Any] = {
        "key_prefix": store.prefix,
        "wechat_token": TOKEN,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_api_base_url": fake.url,
        "wechat_templates": (("reminder", REMIND), ("result", RESULT)),
    }
    return dataclasses.replace(settings, **(wechat_settings | changes))


@pytest.fixture
async def client(
    settings: Settings, store: Store, runtime: Runtime, fake: FakeWeChat
) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(configured(settings, store, fake), runtime)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
def user(client: TestClient[Any, Any], fake: FakeWeChat) -> WeChatUser:
    return WeChatUser(client, fake, openid=OPENID)


def lists(*entries: tuple[str, str]) -> str:
    return "".join(
        f"<List><TemplateId><![CDATA[{template}]]></TemplateId>"
        f"<SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>"
        "<PopupScene>2</PopupScene></List>"
        for template, status in entries
    )


async def allow(user: WeChatUser, *templates: str) -> None:
    """The user taps "allow" on the page: WeChat records it and tells us by an event."""
    for template in templates:
        user.fake.subscriptions[(user.openid, template)] += 1
    await user.event("subscribe_msg_popup_event", lists=lists(*[(t, "accept") for t in templates]))


def number_of(text: str, word: str) -> str:
    """The number WeChat shows beside the choice that mentions `word`."""
    found = re.search(rf"^(\d+)\. .*{word}", text, re.MULTILINE)
    assert found is not None, text
    return found.group(1)


async def deliver(client: TestClient[Any, Any], runtime: Runtime) -> None:
    """Run the worker once through this app's WeChat outlet."""
    outlet = client.app[wechat.WECHAT].outlet
    assert outlet is not None
    await Worker(runtime, Port({"wechat": outlet}, runtime.store.users)).run_once()


async def test_grants_come_from_our_templates_once_per_event(
    user: WeChatUser, runtime: Runtime, client: TestClient[Any, Any]
) -> None:
    users = runtime.store.users
    popup = xml_of(
        "subscribe_msg_popup_event",
        openid=OPENID,
        time=int(time.time()),
        lists=lists((REMIND, "accept"), (RESULT, "reject"), ("TPL-NOT-OURS", "accept")),
    )
    assert (await user.post(popup)).text == ""  # "success": nothing to say
    assert await users.grants(USER) == {REMIND: 1}
    await user.post(popup)  # WeChat's retry of the same event
    assert await users.grants(USER) == {REMIND: 1}
    await user.event("subscribe_msg_popup_event", lists=lists((REMIND, "accept")))
    assert await users.grants(USER) == {REMIND: 2}
    await user.event("subscribe_msg_change_event", lists=lists((REMIND, "reject")))
    assert await users.grants(USER) == {}
    odd = "<List>plain text</List><List><TemplateId/></List>"
    await user.event("subscribe_msg_popup_event", lists=odd)
    assert await users.grants(USER) == {}
    fresh = xml_of(
        "subscribe_msg_popup_event",
        openid=OPENID,
        time=int(time.time()) + 7,
        lists=lists((REMIND, "accept")),
    )
    query, body = callback_request(fresh, safe=False, token="forged")  # noqa: S106
    forged = await client.post("/wechat", params=query, data=body.encode())
    assert forged.status == 403 and await users.grants(USER) == {}


async def test_a_reminder_after_48_hours_goes_by_subscription_once_then_as_a_note(
    user: WeChatUser, runtime: Runtime, client: TestClient[Any, Any], fake: FakeWeChat
) -> None:
    first = await add_slot(runtime, hours_ahead=10, task="湿地补植")
    second = await add_slot(runtime, hours_ahead=15, task="除草")
    await user.say("/book")
    slots = await user.say("金匮")
    asked = await user.say(number_of(slots.text, "湿地补植"))
    assert "证书上印什么姓名" in asked.text  # no name on file yet
    booked = await user.say("王小红")
    assert "预约成功" in booked.text
    assert "/wechat/subscribe?lang=zh" in booked.text  # the offer to allow notices
    await allow(user, REMIND)
    fake.out_of_window = {OPENID}  # 48 hours later
    fake.forget()
    await deliver(client, runtime)
    (notice,) = fake.notices_to(OPENID)
    assert notice["template_id"] == REMIND
    assert notice["data"]["thing1"]["value"] == "湿地补植"
    assert re.fullmatch(r"\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}", notice["data"]["time2"]["value"])
    assert notice["data"]["thing3"]["value"] == "无锡经开区金匮公园"
    assert await runtime.store.users.grants(USER) == {}  # the one send is used
    fake.out_of_window = set()  # the user writes again: book the second slot too
    await user.say("/book")
    slots = await user.say("金匮")
    assert "预约成功" in (await user.say(number_of(slots.text, "除草"))).text
    fake.out_of_window = {OPENID}
    fake.forget()
    await deliver(client, runtime)
    assert fake.notices_to(OPENID) == []  # no grant left: nothing by subscription
    fake.out_of_window = set()
    note = await user.say("/help")  # the reminders wait as notes
    assert note.text.count("⏰ 提醒") >= 1 and "除草" in note.text
    assert second.id != first.id


async def test_the_result_of_a_review_reaches_a_silent_user_and_fields_are_cut(
    user: WeChatUser, runtime: Runtime, client: TestClient[Any, Any], fake: FakeWeChat
) -> None:
    pledge_id = await pledge_waiting_for_a_photo(user, runtime)
    await allow(user, RESULT)
    reason = "照片看不清树苗，也看不出是在基地拍的，请在白天重新拍一张带有基地标牌的照片"
    (claim,) = await runtime.claims.waiting()
    await runtime.claims.decide(
        claim.id, approve=False, actor=Actor.chat_admin("t"), reason=reason
    )
    fake.out_of_window = {OPENID}
    fake.forget()
    await deliver(client, runtime)
    (notice,) = fake.notices_to(OPENID)
    assert notice["template_id"] == RESULT
    assert notice["data"]["phrase2"]["value"] == "未通过"
    note = notice["data"]["thing3"]["value"]
    assert len(note) == 20 and note.endswith("…") and reason.startswith(note[:-1])
    assert all(len(v["value"]) <= 20 for v in notice["data"].values())
    assert pledge_id


async def pledge_waiting_for_a_photo(user: WeChatUser, runtime: Runtime) -> str:
    for text in ("/pledge", "金匮", "捐物", "200", "张三", "1"):
        await user.say(text)
    assert "/wechat/subscribe" in user.last.text  # the next step offers notices
    (pledge,) = await runtime.pledges.of_user(USER)
    await runtime.claims.submit(USER, pledge.id, photo())
    return pledge.id


async def test_without_a_template_or_when_wechat_refuses_the_notice_is_a_note(
    settings: Settings,
    store: Store,
    runtime: Runtime,
    fake: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    only_reminders = configured(settings, store, fake, wechat_templates=(("reminder", REMIND),))
    app = create_app(only_reminders, runtime)
    async with TestClient(TestServer(app)) as client:
        user = WeChatUser(client, fake, openid=OPENID)
        await pledge_waiting_for_a_photo(user, runtime)
        (claim,) = await runtime.claims.waiting()
        await runtime.claims.decide(
            claim.id, approve=False, actor=Actor.chat_admin("t"), reason="太暗"
        )
        fake.out_of_window = {OPENID}
        with caplog.at_level(logging.INFO):
            await deliver(client, runtime)
        assert "no WECHAT_TEMPLATE_RESULT set" in caplog.text
        assert fake.of("message/subscribe/bizsend") == []
        outlet = client.app[wechat.WECHAT].outlet
        assert outlet is not None
        brief = Brief("reminder", "植树", "2026-03-12 09:00", note="金匮")
        await store.users.record_grants(USER, "grant-test", [(REMIND, "accept")])
        # WeChat says the user turned it off meanwhile (43101): the grant goes, a note is kept
        port = Port({"wechat": outlet}, store.users)
        assert await port.push(USER, [Message("⏰ 明天", brief=brief)]) == Delivery.NOTED
        assert await store.users.grants(USER) == {}
        fake.subscriptions[(OPENID, REMIND)] = 1
        await store.users.record_grants(USER, "grant-test-2", [(REMIND, "accept")])
        assert await port.push(USER, [Message("⏰ 明天", brief=brief)]) == Delivery.SUBSCRIPTION
        fake.out_of_window = set()
        assert await port.push(USER, [Message("⏰ 明天", brief=brief)]) == Delivery.SENT


def test_fields_are_fitted_to_wechats_limits() -> None:
    assert fit("thing1", "一" * 21) == "一" * 19 + "…"
    assert fit("thing3", "  两行\n文字 ") == "两行 文字"
    assert fit("phrase2", "未能通过审核") == "未能通过…"
    assert fit("time2", "2026-03-12 09:00") == "2026年03月12日 09:00"
    assert fit("thing1", "") == "-"
    data = template_data(Brief("result", "尽责承诺", state="已完成", note="WX2026-ABC"))
    assert data == {
        "thing1": {"value": "尽责承诺"},
        "phrase2": {"value": "已完成"},
        "thing3": {"value": "WX2026-ABC"},
    }


async def test_the_page_is_signed_as_wechat_documents_with_one_ticket_for_all(
    client: TestClient[Any, Any], fake: FakeWeChat, settings: Settings, runtime: Runtime
) -> None:
    pages = await asyncio.gather(
        *[client.get("/wechat/subscribe?lang=zh") for _ in range(6)]
    )  # at once, as after a restart: one process, one fetch
    assert {p.status for p in pages} == {200}
    assert fake.tickets == 1
    html = await pages[0].text()
    main = ElementTree.fromstring(
        re.search(r"<main[^>]*>", html).group(0).replace(">", "/>", 1)  # type: ignore[union-attr]
    )
    config = json.loads(main.get("data-config"))
    url = "https://trees.example.org/wechat/subscribe?lang=zh"
    plain = (
        f"jsapi_ticket=TICKET-1&noncestr={config['nonceStr']}"
        f"&timestamp={config['timestamp']}&url={url}"
    )
    assert config["signature"] == hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324
    assert config["appId"] == APP_ID and config["openTagList"] == ["wx-open-subscribe"]
    assert f'template="{REMIND},{RESULT}"' in html and "开启通知" in html
    assert (await client.get("/static/vendor/jweixin.js")).status == 200
    assert (await client.get("/static/wechat_subscribe.js")).status == 200


async def test_the_page_without_templates_says_so(
    settings: Settings, store: Store, runtime: Runtime, fake: FakeWeChat
) -> None:
    app = create_app(configured(settings, store, fake, wechat_templates=()), runtime)
    async with TestClient(TestServer(app)) as client:
        page = await client.get("/wechat/subscribe", headers={"Accept-Language": "en"})
        assert page.status == 404 and "not offered" in await page.text()
        assert fake.tickets == 0
        user = WeChatUser(client, fake, openid="oNoTemplates")
        for text in ("/pledge", "金匮", "捐物", "200", "张三"):
            await user.say(text)
        assert "/wechat/subscribe" not in (await user.say("1")).text  # no offer without them


async def test_a_send_wechat_fails_leaves_the_grant_for_the_next_notice(
    client: TestClient[Any, Any], fake: FakeWeChat, store: Store
) -> None:
    outlet = client.app[wechat.WECHAT].outlet
    assert outlet is not None
    port = Port({"wechat": outlet}, store.users)
    await store.users.record_grants(USER, "grant-busy", [(REMIND, "accept")])
    fake.subscriptions[(OPENID, REMIND)] = 1
    fake.out_of_window = {OPENID}
    fake.fail("message/subscribe/bizsend", 47001, 47001)  # WeChat refuses (not 43101)
    brief = Brief("reminder", "植树", "2026-03-12 09:00", note="金匮")
    assert await port.push(USER, [Message("⏰ 明天", brief=brief)]) == Delivery.NOTED
    assert await store.users.grants(USER) == {REMIND: 1}  # given back
    assert await port.push(USER, [Message("⏰ 明天", brief=brief)]) == Delivery.NOTED
    assert await port.push(USER, [Message("⏰ 明天", brief=brief)]) == Delivery.SUBSCRIPTION
    assert await store.users.grants(USER) == {}
