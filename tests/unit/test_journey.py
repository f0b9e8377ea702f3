"""The pledge journey through the engine, in Chinese and English, against real Redis."""

from __future__ import annotations

from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.services.pledges import Pledge
from tests.kit.chat import Chat
from tests.kit.fulfil import approve, pay, photo


async def test_start_welcomes_and_offers_the_main_actions(chat: Chat) -> None:
    await chat.say("/start")
    assert "全民义务植树" in chat.text and "网上尽责" in chat.text
    assert chat.choices == [
        "menu:pledge",
        "menu:book",
        "menu:mine",
        "menu:bookings",
        "menu:lang",
        "menu:help",
    ]


async def test_whole_donation_journey_in_chinese(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/start")
    await chat.say("1")  # the first menu entry: pledge
    assert "省级基地" in chat.text and "市级试点基地" in chat.text
    assert "城市中心的综合公园" in chat.text  # one line of description per base
    assert len([c for c in chat.choices if c.startswith("base:")]) == 8
    await chat.say("金匮")
    assert "无锡经开区金匮公园" in chat.text
    assert chat.choices[:5] == [
        "form:afforestation",
        "form:adoption",
        "form:donation",
        "form:in_kind",
        "form:volunteering",
    ]
    await chat.say("捐资")
    assert "每 20 元折合植树 1 株" in chat.text and "60 元及以上可获得电子证书" in chat.text
    assert chat.choices[:3] == ["yuan:60", "yuan:100", "yuan:200"]
    await chat.say("100")
    assert "100 元折合植树 5 株" in chat.text and "可以获得尽责证书" in chat.text
    assert "name:suggested" in chat.choices  # the platform display name is offered
    await chat.tap("name:suggested")
    assert "证书姓名：张三" in chat.text and "100 元" in chat.text
    await chat.say("确认")
    assert chat.certificate is None  # nothing is paid yet: no certificate
    assert "已记录您的尽责承诺" in chat.text and "参考码" in chat.text
    assert "menu:pledge" in chat.choices
    (waiting,) = await runtime.pledges.of_user(UserKey("test:u1"))
    assert waiting.status == "pledged" and waiting.serial is None
    assert waiting.reference in chat.text  # link-out: the code to write in the remark
    serial = await pay(runtime, "test:u1")
    assert serial is not None and serial.startswith("WX20")
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None
    assert (pledge.base, pledge.form, pledge.amount_yuan, pledge.trees, pledge.name) == (
        "jinkui",
        "donation",
        100,
        5,
        "张三",
    )
    assert pledge.status == "fulfilled" and pledge.user_key == "test:u1"


async def test_whole_trees_journey_in_english(chat_en: Chat, runtime: Runtime) -> None:
    await chat_en.say("/start")
    assert "Hello" in chat_en.text
    await chat_en.tap("menu:pledge")
    assert "Provincial bases" in chat_en.text
    await chat_en.say("panlong")  # part of a label, any case
    assert "Panlongshan Park" in chat_en.text
    await chat_en.say("1")  # afforestation by its number
    assert "How many trees" in chat_en.text
    await chat_en.say("4 trees")
    await chat_en.say("Jane Doe")
    assert "Name on the certificate: Jane Doe" in chat_en.text and "Trees: 4" in chat_en.text
    await chat_en.tap("confirm")
    assert chat_en.certificate is None and "thank you" in chat_en.text
    assert "Book a planting event at the base" in chat_en.text
    await chat_en.tap("fulfil:photo")
    assert "send a photo of your planting or tending here" in chat_en.text
    await chat_en.send(photo=photo())
    assert "Photo received" in chat_en.text
    (claim,) = await runtime.claims.waiting()
    await runtime.claims.decide(claim.id, True, Actor.chat_admin("test"))
    pledge = (await runtime.pledges.of_user(UserKey("test:u2")))[0]
    assert pledge.status == "fulfilled" and pledge.locale == "en" and pledge.trees == 4


async def test_59_yuan_earns_no_certificate_and_60_does(chat: Chat, runtime: Runtime) -> None:
    await chat.pledge("jinkui", "donation", "59", "李四")
    assert "再捐 1 元即可获得尽责证书" in chat.text
    assert await pay(runtime, "test:u1") is None  # paid, fulfilled, and no certificate
    await chat.pledge("jinkui", "donation", "60", "李四")
    assert await pay(runtime, "test:u1") is not None


async def test_two_trees_earn_no_certificate_and_say_what_is_missing(chat_en: Chat) -> None:
    await chat_en.pledge("guzhuang", "protection", "2", "Li")
    assert chat_en.certificate is None and "1 more tree would earn" in chat_en.text


async def test_volunteering_leads_to_booking_a_slot_at_the_base(chat: Chat) -> None:
    await chat.say("/pledge")
    await chat.tap("base:huihaiwan")
    await chat.tap("form:volunteering")
    assert "新吴区慧海湾生态公园" in chat.text and "暂时没有可预约的时段" in chat.text


async def test_mine_lists_pledges_duty_and_certificates(chat: Chat, runtime: Runtime) -> None:
    await chat.say("/mine")
    assert "还没有尽责记录" in chat.text
    await chat.pledge("jinkui", "donation", "40", "张三")
    await chat.pledge("changguangxi", "adoption", "3", "张三")
    await chat.say("/mine")
    assert "已完成 0 株" in chat.text and "待完成" in chat.text
    assert "通过官方渠道捐资 40 元" in chat.text and "捐资 60 元" in chat.text  # 3 trees × 20
    await pay(runtime, "test:u1")
    await chat.say("/mine")
    assert "已完成 5 株" in chat.text and "今年的植树义务已完成" in chat.text
    assert "无锡经开区金匮公园" in chat.text and "滨湖区长广溪国家湿地公园" in chat.text
    certificate = next(c for c in chat.choices if c.startswith("cert:"))
    await chat.tap(certificate)
    assert chat.certificate == certificate.removeprefix("cert:")


async def test_mine_before_the_duty_is_met_says_what_is_missing(
    chat_en: Chat, runtime: Runtime
) -> None:
    await chat_en.pledge("jinkui", "donation", "40", "Jane")
    await pay(runtime, "test:u2")
    await chat_en.say("/mine")
    assert "Trees fulfilled: 2" in chat_en.text and "1 more tree fulfils" in chat_en.text
    assert "menu:pledge" in chat_en.choices  # nothing to pick: back to the menu


async def test_lang_switches_and_sticks(chat: Chat) -> None:
    await chat.say("/lang")
    assert chat.choices[:2] == ["lang:zh", "lang:en"]
    await chat.say("English")
    assert "Language set to English" in chat.text
    await chat.say("/help")
    assert "/pledge" in chat.text and "yearly duty is 3-5 trees" in chat.text
    await chat.say("/lang")
    await chat.tap("lang:zh")
    assert "已切换为中文" in chat.text


async def test_help_names_the_commands(chat: Chat) -> None:
    await chat.say("/help")
    for command in ("/pledge", "/mine", "/lang", "/cancel", "/forget"):
        assert command in chat.text


async def test_forget_deletes_pledges_and_certificates(chat: Chat, runtime: Runtime) -> None:
    await chat.pledge("jinkui", "donation", "100", "张三")
    serial = await pay(runtime, "test:u1")
    assert serial is not None
    await chat.say("/forget")
    await chat.tap("forget:yes")
    assert "已删除：1 条" in chat.text
    assert await runtime.pledges.by_serial(serial) is None
    assert (await runtime.pledges.year_summary("test:u1", 2026)).pledges == ()
    assert not await runtime.store.users.is_subscribed(UserKey("test:u1"))
    left = [k async for k in runtime.store.redis.scan_iter(match=f"{runtime.store.prefix}*")]
    kept = [k for k in left if "u1" in k and not k.endswith(":session") and ":seen:" not in k]
    assert kept == []  # only the fresh session and expiring duplicate marks remain


async def test_pledge_record_has_the_issue_fields(chat: Chat, runtime: Runtime) -> None:
    await chat.pledge("diaoqiao", "afforestation", "5", "赵六")
    await approve(runtime, "test:u1")
    records = await runtime.store.pledges.of_user(UserKey("test:u1"))
    (record,) = records.values()
    pledge = Pledge.from_json(record)
    assert pledge.channel == "test" and pledge.created.endswith("+00:00")
    assert pledge.serial and pledge.id in pledge.serial
    assert [e.what for e in pledge.history] == ["pledged", "claim_submitted", "fulfilled"]
    assert pledge.history[-1].by == "admin:test"
    stats = await runtime.store.pledges.day_stats(
        runtime.catalog.local(pledge.created).date().isoformat()
    )
    assert stats["base:diaoqiao"] == 1 and stats["form:afforestation"] == 1 and stats["trees"] == 5


async def test_typing_part_of_the_suggested_name_prints_that_part(runtime: Runtime) -> None:
    chat = Chat(runtime.engine, user_id="u9", display_name="张三丰")
    await chat.say("/pledge")
    await chat.tap("base:jinkui")
    await chat.tap("form:afforestation")
    await chat.say("5")
    assert "name:suggested" in chat.choices
    await chat.say("三丰")  # a part of the suggestion is a name of its own
    assert "证书姓名：三丰" in chat.text
    await chat.tap("nav:back")
    await chat.say("1")  # the suggestion by its number
    assert "证书姓名：张三丰" in chat.text
