"""Planting appeals against real Redis and the fake Telegram and WeChat APIs: 5,000 subscribers
with 429s, 403s, 45015s and 5xx; exactly one copy each, also with two workers and after a worker
is killed with SIGKILL mid-run; schedules; cancelling; admins only."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.channels.platforms import open_channels
from bot.channels.port import Port
from bot.config import Settings
from bot.errors import CommandError
from bot.model import UserKey
from bot.runtime import Runtime
from bot.store import Store
from bot.store.broadcasts import AudienceDuty
from bot.worker.appeals import AppealSender
from bot.worker.outbox import Worker
from tests.fakes.telegram import FakeTelegram, Fault
from tests.fakes.wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChat
from tests.kit.appeals import TG, appeal, subscribe
from tests.kit.chat import Chat
from tests.kit.fulfil import pay
from tests.kit.paths import ROOT
from tests.kit.slots import add_slot


def channel_settings(
    settings: Settings, store: Store, fakes: tuple[FakeTelegram, FakeWeChat]
) -> Settings:
    telegram, wechat = fakes
    return dataclasses.replace(
        settings,
        key_prefix=store.prefix,
        telegram_bot_token="1:broadcast",  # noqa: S106 - the fake takes any
        telegram_api_base_url=telegram.url,
        wechat_token=TOKEN,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base_url=wechat.url,
    )


@pytest.fixture
async def broadcaster(
    runtime: Runtime,
    settings: Settings,
    store: Store,
    fakes: tuple[FakeTelegram, FakeWeChat],
) -> AsyncIterator[AppealSender]:
    config = dataclasses.replace(
        channel_settings(settings, store, fakes),
        broadcast_rate=100_000,
        telegram_rate_limit=100_000,
    )
    async with open_channels(runtime, config, appeals=True) as channels:
        yield AppealSender(runtime.appeals, runtime.store.users, channels.port)


def notes_only(runtime: Runtime) -> Port:
    """A port with no platform outlets: everyone gets notes."""
    return Port({}, runtime.store.users)


async def test_five_thousand_subscribers_with_faults(
    runtime: Runtime, broadcaster: AppealSender, fakes: tuple[FakeTelegram, FakeWeChat]
) -> None:
    telegram, wechat = fakes
    tg_users = [TG + i for i in range(2500)]
    wx_users = [f"oWX{i:05d}" for i in range(2500)]
    await subscribe(
        runtime, [f"telegram:{u}" for u in tg_users] + [f"wechat:{o}" for o in wx_users]
    )
    now = int(time.time())
    for openid in wx_users[:2000]:  # wrote within 48 hours
        await runtime.store.users.mark_active(openid, now)
    telegram.blocked = set(tg_users[:50])
    wechat.out_of_window = set(wx_users[:40])
    telegram.fail(
        "sendMessage",
        Fault(429, "Too Many Requests", retry_after=1),
        Fault(500, "Internal Server Error"),
        Fault(502, "Bad Gateway"),
    )
    bc = await runtime.appeals.create(appeal())
    assert bc.total == 5000
    await broadcaster.run_once()
    done = await runtime.appeals.get(bc.id)
    assert done is not None and done.status == "done"
    copies = telegram.copies()
    assert all(copies[u] == 1 for u in tg_users[50:])
    assert all(copies[u] == 0 for u in tg_users[:50])
    wx_copies = [m["touser"] for m in (c.body for c in wechat.of("message/custom/send"))]
    assert sorted(wx_copies) == sorted(wx_users[:2000])  # one attempt each, 45015s included
    assert done.counts == {
        "sent": 2450 + 1960,
        "failed": 0,
        "unreachable": 50 + 40,
        "outside_window": 500,
        "unknown": 0,
    }
    assert not await runtime.store.users.is_subscribed(UserKey(f"telegram:{tg_users[0]}"))
    assert await runtime.store.users.is_unreachable(UserKey(f"wechat:{wx_users[0]}"))


async def test_two_workers_at_once_send_one_copy_each(
    runtime: Runtime, broadcaster: AppealSender, fakes: tuple[FakeTelegram, FakeWeChat]
) -> None:
    telegram, _ = fakes
    users = [TG + i for i in range(400)]
    await subscribe(runtime, [f"telegram:{u}" for u in users])
    bc = await runtime.appeals.create(appeal(channel="telegram"))
    twin = AppealSender(runtime.appeals, runtime.store.users, broadcaster.port)
    handled = await asyncio.gather(broadcaster.run_once(), twin.run_once())
    assert sum(handled) == 400 and all(n > 0 for n in handled)
    assert set(telegram.copies().values()) == {1} and len(telegram.copies()) == 400
    assert (await runtime.appeals.get(bc.id)).counts["sent"] == 400  # type: ignore[union-attr]


async def test_a_scheduled_appeal_waits_for_its_time(
    runtime: Runtime, broadcaster: AppealSender, fakes: tuple[FakeTelegram, FakeWeChat]
) -> None:
    telegram, _ = fakes
    await subscribe(runtime, [f"telegram:{TG}"])
    at = int(time.time()) + 3600
    await runtime.appeals.create(appeal(at=at))
    assert await broadcaster.run_once() == 0 and not telegram.sent()
    assert await broadcaster.run_once(now=at + 1) == 1 and len(telegram.sent()) == 1


async def test_cancel_stops_an_appeal(
    runtime: Runtime, broadcaster: AppealSender, fakes: tuple[FakeTelegram, FakeWeChat]
) -> None:
    telegram, _ = fakes
    await subscribe(runtime, [f"telegram:{TG + i}" for i in range(10)])
    bc = await runtime.appeals.create(appeal())
    assert await runtime.appeals.cancel(bc.id)
    assert await broadcaster.run_once() == 0 and not telegram.sent()
    assert not await runtime.appeals.cancel(bc.id)  # already cancelled


async def test_audiences_by_language_and_base(runtime: Runtime, broadcaster: AppealSender) -> None:
    english = Chat(runtime.engine, user_id="en1", locale="en", channel="web")
    chinese = Chat(runtime.engine, user_id="zh1", locale="zh-hans", channel="web")
    for chat in (english, chinese):
        await chat.say("/start")
    await chinese.pledge("guzhuang", "donation", "60", "张三")
    assert await runtime.appeals.audience_size(appeal(lang="en")) == 1
    assert await runtime.appeals.audience_size(appeal(lang="zh")) == 1
    assert await runtime.appeals.audience_size(appeal(base="guzhuang")) == 1
    assert await runtime.appeals.audience_size(appeal(base="jinkui")) == 0
    assert await runtime.appeals.audience_size(appeal(channel="telegram")) == 0
    await runtime.appeals.create(appeal(lang="en"))
    await broadcaster.run_once()
    await english.say("/help")
    assert english.replies[0].text == "Tree-planting day"  # their language, at their next turn


async def test_audiences_by_the_duty_left(runtime: Runtime) -> None:
    people = {name: Chat(runtime.engine, user_id=name, channel="web") for name in "abcd"}
    for chat in people.values():
        await chat.say("/start")
    await people["b"].pledge("guzhuang", "donation", "60", "张三")  # pledged, not paid
    await people["c"].pledge("jinkui", "donation", "100", "李四")
    assert await pay(runtime, "web:c")  # 5 trees this year: the duty done
    slot = await add_slot(runtime)
    await people["d"].say("/book")
    await people["d"].say("金匮")
    await people["d"].book(slot.id, "王五")
    assert "预约成功" in people["d"].text

    async def audience(duty: str) -> set[str]:
        draft = appeal(duty=AudienceDuty(duty))
        found = {u.user_id async for batch in runtime.appeals.recipients(draft) for u in batch}
        assert await runtime.appeals.audience_size(draft) == len(found)
        return found

    assert await audience("all") == {"a", "b", "c", "d"}
    assert "b" in await audience("open") and not {"a", "c"} & await audience("open")
    assert await audience("few") == {"a", "b", "d"}
    assert await audience("unbooked") == {"a", "b", "c"}
    with pytest.raises(CommandError, match="mass send"):
        await runtime.appeals.create(appeal(duty=AudienceDuty.OPEN, wechat_mass=True))
    year = runtime.teams.catalog.local(datetime.now(UTC)).year
    team = await runtime.teams.create(UserKey("web:a"), "一队", "", 10, year)
    assert not isinstance(team, str)
    assert await runtime.teams.join(UserKey("web:c"), team.code, team.year) == team
    members = appeal(team=team.code)
    assert {u.user_id async for b in runtime.appeals.recipients(members) for u in b} == {"a", "c"}
    assert await audience("few") == {"a", "b", "d"}  # a team changes no other audience
    with pytest.raises(CommandError, match="unknown team"):
        await runtime.appeals.create(appeal(team="NOPE00"))


async def test_admins_broadcast_from_the_chat_and_get_a_report(runtime: Runtime) -> None:
    stranger = Chat(runtime.engine, user_id="stranger", channel="web")
    await stranger.say("/broadcast")
    assert "仅限管理员" in stranger.text
    follower = Chat(runtime.engine, user_id="follower", channel="web")
    await follower.say("/start")
    admin = Chat(runtime.engine, user_id="admin", channel="web", is_admin=True)
    await admin.say("/broadcast")
    await admin.say("本周末金匮公园植树，欢迎参加！\n---\nPlanting at Jinkui Park this weekend!")
    await admin.tap("aud:all")
    assert "共 1 人" in admin.text and "本周末金匮公园植树" in admin.text
    await admin.tap("send")
    assert "已排队发送" in admin.text
    await AppealSender(runtime.appeals, runtime.store.users, notes_only(runtime)).run_once()
    await Worker(runtime, notes_only(runtime)).run_once()
    await follower.say("/help")
    assert follower.replies[0].text == "本周末金匮公园植树，欢迎参加！"
    await admin.say("/help")
    assert "送达 1" in admin.replies[0].text


async def test_stop_and_start_unsubscribe_and_subscribe(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/start")
    assert await runtime.store.users.is_subscribed(UserKey("test:u1"))
    await chat.say("/stop")
    assert "已退订" in chat.text and not await runtime.store.users.is_subscribed(
        UserKey("test:u1")
    )
    await chat.say("/start")
    assert await runtime.store.users.is_subscribed(UserKey("test:u1"))


async def test_wechat_mass_send_goes_once_within_the_monthly_quota(
    runtime: Runtime, broadcaster: AppealSender, fakes: tuple[FakeTelegram, FakeWeChat]
) -> None:
    _, wechat = fakes
    await subscribe(runtime, ["wechat:oSILENT"])  # outside the 48-hour window
    bc = await runtime.appeals.create(appeal(channel="wechat", wechat_mass=True))
    twin = AppealSender(runtime.appeals, runtime.store.users, broadcaster.port)
    await asyncio.gather(broadcaster.run_once(), twin.run_once())
    (mass,) = wechat.of("message/mass/sendall")
    assert mass.body["filter"] == {"is_to_all": True} and "植树节" in mass.body["text"]["content"]
    done = await runtime.appeals.get(bc.id)
    assert done is not None and done.counts["outside_window"] == 1
    for _ in range(3):
        await runtime.appeals.create(appeal(channel="wechat", wechat_mass=True))
    with pytest.raises(CommandError, match="quota"):
        await runtime.appeals.create(appeal(channel="wechat", wechat_mass=True))


async def test_an_image_goes_along_on_both_channels(
    runtime: Runtime, broadcaster: AppealSender, fakes: tuple[FakeTelegram, FakeWeChat]
) -> None:
    telegram, wechat = fakes
    people = [f"telegram:{TG}", f"telegram:{TG + 1}", "wechat:oACTIVE1", "wechat:oACTIVE2"]
    await subscribe(runtime, people)
    for openid in ("oACTIVE1", "oACTIVE2"):
        await runtime.store.users.mark_active(openid, int(time.time()))
    png = (ROOT / "tests" / "golden" / "certificate-zh.png").read_bytes()
    bc = await runtime.appeals.create(appeal(), image=png)
    await broadcaster.run_once()
    first, second = telegram.of("sendPhoto")  # uploaded once, then sent by its file_id
    assert first.params["photo"]["size"] == len(png) and "植树节" in first.params["caption"]
    assert second.params["photo"] in telegram.photo_ids and "植树节" in second.params["caption"]
    assert len(wechat.of("media/upload")) == 1  # uploaded once, sent to both
    kinds = sorted(m["msgtype"] for m in (c.body for c in wechat.of("message/custom/send")))
    assert kinds == ["image", "image", "text", "text"]
    done = await runtime.appeals.get(bc.id)
    assert done is not None and done.counts["sent"] == 4 and done.counts["failed"] == 0
