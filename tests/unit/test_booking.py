"""Volunteer booking against real Redis: the journey, waitlist, cancel rules, overlap, capacity
under 1,000 concurrent attempts (also from two processes), reminders with two workers and after a
worker dies, check-in toward the duty, no-shows, admin commands."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import datetime

import pytest
import zxingcpp
from PIL import Image

from bot import i18n
from bot.catalog import load_catalog
from bot.errors import CommandError
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.slots import decoded, read_csv
from tests.kit.chat import Chat
from tests.kit.fulfil import pay
from tests.kit.slots import HOUR, add_slot, worker
from tests.kit.store import contents


async def test_book_a_slot_from_the_menu(chat: Chat, runtime: Runtime) -> None:
    slot = await add_slot(runtime, capacity=20)
    await chat.say("/start")
    await chat.tap("menu:book")
    assert "想去哪个基地" in chat.text and "base:guzhuang" in chat.choices
    await chat.say("金匮")
    assert "未来 14 天" in chat.text and f"slot:{slot.id}" in chat.choices
    assert "剩 20/20" in chat.last.buttons[0].label
    await chat.book(slot.id)
    assert "预约成功" in chat.text and "无锡经开区金匮公园" in chat.text
    assert "请携带" in chat.text and "签到码" in chat.text
    (booking,) = (await runtime.bookings.slots.bookings("test:u1")).values()
    assert booking.status == "booked" and booking.code in chat.text
    assert (await runtime.bookings.slots.slot(slot.id)).booked == 1  # type: ignore[union-attr]


async def test_volunteering_in_the_pledge_flow_books_at_that_base(
    chat_en: Chat, runtime: Runtime
) -> None:
    slot = await add_slot(runtime, base="huihaiwan")
    await chat_en.say("/pledge")
    await chat_en.tap("base:huihaiwan")
    await chat_en.tap("form:volunteering")
    assert "Slots at Huihaiwan Ecological Park" in chat_en.text
    await chat_en.book(slot.id)
    assert "Booked!" in chat_en.text and "Check-in code" in chat_en.text


async def test_a_full_slot_offers_the_waitlist_and_promotes_on_cancel(runtime: Runtime) -> None:
    slot = await add_slot(runtime, capacity=1)
    first = Chat(runtime.engine, user_id="first")
    second = Chat(runtime.engine, user_id="second")
    await first.say("/book")
    await first.say("金匮")
    await first.book(slot.id)
    await second.say("/book")
    await second.say("金匮")
    await second.book(slot.id)
    assert "已经约满了" in second.text
    await second.tap("waitlist")
    assert "排在第 1 位" in second.text
    await first.say("/bookings")
    await first.tap(f"booking:{slot.id}")
    await first.tap("cancel-booking")
    assert "已取消预约" in first.text
    volunteers = await runtime.bookings.slots.volunteers(slot.id)
    assert list(volunteers) == ["test:second"]
    assert await worker(runtime).run_once() >= 1  # tells the promoted volunteer
    await second.say("/bookings")
    assert "候补成功" in second.text and volunteers["test:second"] in second.text


async def test_cancel_rules(runtime: Runtime) -> None:
    slot = await add_slot(runtime)
    bookings = runtime.bookings
    result = await bookings.book("test:a", slot.id, "", "zh", int(time.time()))
    assert result.status == "booked"
    assert (await bookings.book("test:a", slot.id, "", "zh", int(time.time()))).status == "already"
    assert await bookings.cancel("test:a", slot.id, slot.start) == "too_late"
    assert await bookings.cancel("test:b", slot.id, int(time.time())) == "not_booked"
    assert (await bookings.book("test:b", slot.id, "", "zh", slot.start)).status == "closed"
    assert await bookings.cancel("test:a", slot.id, int(time.time())) == "cancelled"
    assert await bookings.slots.volunteers(slot.id) == {}


async def test_overlapping_bookings_are_refused_with_a_hint(chat: Chat, runtime: Runtime) -> None:
    morning = await add_slot(runtime, hours_ahead=48, length_h=3)
    overlapping = await add_slot(runtime, base="xinheyuan", hours_ahead=49, length_h=3)
    await chat.say("/book")
    await chat.say("金匮")
    await chat.book(morning.id)
    await chat.say("/book")
    await chat.say("馨和园")
    await chat.book(overlapping.id)
    assert "时间重叠" in chat.text
    assert await runtime.bookings.slots.volunteers(overlapping.id) == {}


async def test_a_thousand_concurrent_attempts_fill_exactly_the_capacity(
    runtime: Runtime,
) -> None:
    slot = await add_slot(runtime, capacity=50)
    now = int(time.time())
    results = await asyncio.gather(
        *(runtime.bookings.book(f"test:v{i}", slot.id, "", "zh", now) for i in range(1000))
    )
    statuses = [r.status for r in results]
    assert statuses.count("booked") == 50 and statuses.count("full") == 950
    volunteers = await runtime.bookings.slots.volunteers(slot.id)
    assert len(volunteers) == 50 and len(set(volunteers.values())) == 50


async def test_reminders_go_once_with_two_workers(
    chat: Chat, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = await add_slot(runtime, hours_ahead=10)  # inside the 24-hour reminder window
    await chat.say("/book")
    await chat.say("金匮")
    await chat.book(slot.id)
    handled = await asyncio.gather(
        worker(runtime, "w1").run_once(), worker(runtime, "w2").run_once()
    )
    assert sum(handled) == 1
    assert (
        sum(
            await asyncio.gather(
                worker(runtime, "w1").run_once(), worker(runtime, "w2").run_once()
            )
        )
        == 0
    )
    await chat.say("/help")
    reminders = [m for m in chat.replies if "⏰ 提醒" in m.text]
    assert len(reminders) == 1 and "签到码" in reminders[0].text
    await chat.say("/help")
    assert not any("⏰ 提醒" in m.text for m in chat.replies)


async def test_a_reminder_a_dead_worker_took_is_sent_by_another(
    chat: Chat, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = await add_slot(runtime, hours_ahead=10)
    await chat.say("/book")
    await chat.say("金匮")
    await chat.book(slot.id)
    jobs = runtime.store.jobs
    await jobs.ensure_group("senders")
    await jobs.claim_due(int(time.time()))
    taken = await jobs.take("senders", "dead-worker", 10, 0, 60_000)  # then it is killed
    assert len(taken) == 1
    assert await worker(runtime, "fresh").run_once() == 0  # not yet: the entry is not idle
    monkeypatch.setattr("bot.worker.outbox.IDLE_MS", 0)
    assert await worker(runtime, "fresh").run_once() == 1
    assert await worker(runtime, "fresh").run_once() == 0
    await chat.say("/help")
    assert sum("⏰ 提醒" in m.text for m in chat.replies) == 1


async def test_a_reminder_button_cancels_the_booking(chat: Chat, runtime: Runtime) -> None:
    slot = await add_slot(runtime)
    await chat.say("/book")
    await chat.say("金匮")
    await chat.book(slot.id)
    await chat.say("/help")
    await chat.tap(f"act:cancel_booking:{slot.id}")  # a button from a reminder
    assert "确定取消" in chat.text
    await chat.tap("cancel-booking")
    assert "已取消预约" in chat.text
    await chat.tap(f"act:keep_booking:{slot.id}")
    assert "没有找到这个预约" in chat.text


async def test_check_in_counts_toward_the_duty_and_issues_the_certificate(
    chat: Chat, runtime: Runtime
) -> None:
    await chat.pledge("jinkui", "donation", "40", "张三")  # 2 trees, no certificate yet
    assert await pay(runtime, "test:u1") is None
    slot = await add_slot(runtime, length_h=3)  # 3 hours: 2 trees
    await chat.say("/book")
    await chat.say("金匮")
    await chat.book(slot.id)
    code = (await runtime.bookings.slots.bookings("test:u1"))[slot.id].code
    result = await runtime.bookings.check_in(code, slot.start)
    assert result.status == "ok" and result.pledge is not None
    assert result.pledge.trees == 2 and result.pledge.serial and result.pledge.name == "张三"
    again = await runtime.bookings.check_in(code, slot.start + 60)
    assert again.status == "already"
    summary = await runtime.pledges.year_summary(
        "test:u1", runtime.pledges.year_of(result.pledge.created)
    )
    assert summary.trees == 4
    await worker(runtime).run_once()
    await chat.say("/help")
    assert any("今年的植树义务已完成" in m.text for m in chat.replies)


async def test_no_shows_are_recorded_after_the_slot_ends(runtime: Runtime) -> None:
    slot = await add_slot(runtime, hours_ahead=48)
    await runtime.bookings.book("test:came", slot.id, "", "zh", int(time.time()))
    await runtime.bookings.book("test:absent", slot.id, "", "zh", int(time.time()))
    came = (await runtime.bookings.slots.bookings("test:came"))[slot.id].code
    await runtime.bookings.check_in(came, slot.start)
    slots = runtime.bookings.slots
    await runtime.store.jobs.claim_due(slot.end + 1)  # the slot has ended: nothing yet
    await worker(runtime).run_once()
    assert (await slots.bookings("test:absent"))[slot.id].status == "booked"  # within grace
    await runtime.store.jobs.claim_due(slot.end + HOUR + 1)  # its check-in window has closed
    await worker(runtime).run_once()
    assert (await slots.bookings("test:absent"))[slot.id].status == "no_show"
    assert (await slots.bookings("test:came"))[slot.id].status == "attended"


async def test_admins_check_in_and_list_volunteers_in_the_chat(runtime: Runtime) -> None:
    slot = await add_slot(runtime, hours_ahead=0.5)  # check-in opened half an hour ago
    volunteer = Chat(runtime.engine, user_id="vol", display_name="李四")
    await volunteer.say("/book")
    await volunteer.say("金匮")
    await volunteer.book(slot.id)
    code = (await runtime.bookings.slots.bookings("test:vol"))[slot.id].code
    stranger = Chat(runtime.engine, user_id="stranger")
    await stranger.say("/checkin")
    assert "仅限管理员" in stranger.text
    admin = Chat(runtime.engine, user_id="admin")
    admin.is_admin = True
    await admin.say("/checkin")
    await admin.say("WRONGCODE")
    assert "没有这个签到码" in admin.text
    await admin.say(code.lower())
    assert "签到成功" in admin.text and "折合植树 2 株" in admin.text
    await admin.say("/volunteers")
    await admin.book(slot.id)
    assert "✓ 李四" in admin.text and code in admin.text


async def test_a_planting_event_checked_in_fulfils_the_pledge_it_was_booked_for(
    chat: Chat, runtime: Runtime
) -> None:
    slot = await add_slot(runtime, length_h=3)
    await chat.pledge("jinkui", "afforestation", "5", "张三")
    assert "预约基地的植树活动" in chat.text
    await chat.tap("fulfil:book")
    assert f"slot:{slot.id}" in chat.choices  # straight to the slots of that base
    await chat.book(slot.id)
    assert "预约成功" in chat.text
    code = (await runtime.bookings.slots.bookings("test:u1"))[slot.id].code
    result = await runtime.bookings.check_in(code, slot.end)
    assert result.pledge is not None and result.pledge.form == "afforestation"
    assert result.pledge.status == "fulfilled" and result.pledge.trees == 5
    assert result.pledge.serial and result.pledge.history[-1].by == "checkin"
    (only,) = await runtime.pledges.of_user("test:u1")  # no extra volunteering pledge
    assert only.id == result.pledge.id


async def test_a_pledge_booked_for_a_distant_event_waits_for_it(
    chat: Chat, runtime: Runtime
) -> None:
    slot = await add_slot(runtime, hours_ahead=10 * 24)
    await chat.pledge("jinkui", "afforestation", "5", "张三")
    (pledge,) = await runtime.pledges.of_user("test:u1")
    soon = int(time.time()) + 5 * 24 * HOUR  # as if pledged 25 days ago: 5 days left
    await runtime.pledges.note(pledge.user_key, pledge.id, pledge.history[0], due=soon)
    await chat.tap("fulfil:book")
    await chat.book(slot.id)
    assert "预约成功" in chat.text, chat.text
    (pledge,) = await runtime.pledges.of_user("test:u1")
    assert pledge.due == slot.end + 86400 and pledge.history[-1].what == "extended"


async def test_check_in_is_one_rule_its_window_and_each_refusal_changes_nothing(
    runtime: Runtime,
) -> None:
    """Only a booking that stands, on a slot that stands, from an hour before the start to an
    hour after the end (the catalogue's window); every refusal says why and changes nothing."""
    bookings = runtime.bookings
    slot = await add_slot(runtime, hours_ahead=48, capacity=1)
    now = int(time.time())
    await bookings.book("test:a", slot.id, "王小红", "zh", now)
    await bookings.wait("test:b", slot.id, "李明", "zh", now)
    code = (await bookings.slots.bookings("test:a"))[slot.id].code
    opens, closes = slot.start - HOUR, slot.end + HOUR
    assert bookings.window(slot) == (opens, closes)
    before = await contents(runtime.store)
    early = await bookings.check_in(code, opens - 1)
    assert early.status == "not_open" and early.opens_at == opens
    late = await bookings.check_in(code, closes + 1)
    assert late.status == "closed" and late.closes_at == closes
    assert (await bookings.check_in("NOSUCHCD", slot.start)).status == "unknown"
    said = i18n.render(bookings.describe(early, code, "en"), "en")
    opening = datetime.fromtimestamp(opens, runtime.catalog.timezone).strftime("%H:%M")
    assert "not open yet" in said and f"opens at {opening}" in said and code in said
    assert await contents(runtime.store) == before
    done = await bookings.check_in(code, opens)  # the first minute of the window
    assert done.status == "ok" and done.pledge is not None and done.name == "王小红"
    again = await bookings.check_in(code, opens + 600)
    assert again.status == "already" and again.first_at == opens
    assert "已于" in i18n.render(bookings.describe(again, code, "zh"), "zh")


async def test_an_admin_in_the_chat_hears_why_a_code_is_refused(runtime: Runtime) -> None:
    slot = await add_slot(runtime, hours_ahead=48)
    await runtime.bookings.book("test:vol", slot.id, "李四", "zh", int(time.time()))
    code = (await runtime.bookings.slots.bookings("test:vol"))[slot.id].code
    admin = Chat(runtime.engine, user_id="admin")
    admin.is_admin = True
    await admin.say("/checkin")
    await admin.say(code)
    assert "还不能签到" in admin.text and "开始" in admin.text
    assert await runtime.bookings.slots.attended_counts([slot.id]) == [0]
    await runtime.bookings.cancel_slot(slot.id)
    await admin.say("/checkin")
    await admin.say(code)
    assert "这个时段已取消" in admin.text


async def test_no_certificate_without_a_name_it_waits_and_is_issued_once_given(
    runtime: Runtime,
) -> None:
    """A booking made before names were asked (none on file) is checked in: the duty is done
    but the certificate waits for a name; the citizen is asked through the port and at
    /mine, and the certificate is issued once they answer."""
    slot = await add_slot(runtime, length_h=6)  # 6 hours: 5 trees, the whole duty
    await runtime.bookings.book("test:vol", slot.id, "", "zh", int(time.time()))
    code = (await runtime.bookings.slots.bookings("test:vol"))[slot.id].code
    done = await runtime.bookings.check_in(code, slot.start)
    assert done.status == "ok" and done.pledge is not None
    assert done.pledge.status == "fulfilled" and done.pledge.serial is None
    assert done.pledge.awaits_name and await runtime.pledges.by_name("") == []
    volunteer = Chat(runtime.engine, user_id="vol", display_name=None)
    await worker(runtime).run_once()  # the notices: checked in, and the name it waits for
    await volunteer.say("/mine")
    assert "证书只差证书上的姓名" in volunteer.text and "证书等您填写姓名" in volunteer.text
    await volunteer.tap(f"act:name_certificate:{done.pledge.id}")
    assert volunteer.asks_name
    await volunteer.say("\u202e")  # nothing printable: asked again, nothing issued
    assert volunteer.asks_name
    await volunteer.say("李四")
    serial = volunteer.certificate
    assert serial and "证书已签发" in volunteer.text
    (named,) = await runtime.pledges.of_user(UserKey("test:vol"))
    assert named.name == "李四" and named.serial == serial and not named.awaits_name
    assert [p.id for p in await runtime.pledges.by_name("李四")] == [named.id]
    await volunteer.tap(f"act:name_certificate:{done.pledge.id}")  # once only
    assert "没有等待填写姓名的证书" in volunteer.text


async def test_a_base_with_many_slots_is_shown_a_page_at_a_time(runtime: Runtime) -> None:
    """Twenty slots at one base: the chat offers eight and "more"; "more" and "earlier" page
    through; none of the pages shows every slot at once."""
    for hours in range(20):
        await add_slot(runtime, hours_ahead=10 + hours)
    chat = Chat(runtime.engine, user_id="v", display_name="李四")
    await chat.say("/book")
    await chat.tap("base:jinkui")
    first = [c for c in chat.choices if c.startswith("slot:")]
    assert len(first) == 8 and "slots:page:8" in chat.choices
    assert not any(c.startswith("slots:page:0") for c in chat.choices)  # no earlier page yet
    await chat.tap("slots:page:8")
    second = [c for c in chat.choices if c.startswith("slot:")]
    assert len(second) == 8 and not set(first) & set(second)
    assert {"slots:page:0", "slots:page:16"} <= set(chat.choices)
    await chat.tap("slots:page:16")
    last = [c for c in chat.choices if c.startswith("slot:")]
    assert len(last) == 4 and "slots:page:24" not in chat.choices
    await chat.book(last[0].removeprefix("slot:"))
    assert "预约成功" in chat.text


async def test_slots_come_by_date_and_time_then_as_they_were_added(runtime: Runtime) -> None:
    """Eleven slots at one time (ids 1 to 11, which Redis would order "1", "10", "11", "2")
    and then one earlier: the earlier first, then the eleven in the order they were added."""
    start = int(time.time()) + 30 * HOUR
    same = [
        await runtime.bookings.add_slot("jinkui", start, start + HOUR, 5, f"任务{n}")
        for n in range(11)
    ]
    earlier = await runtime.bookings.add_slot("jinkui", start - HOUR, start, 5, "早班")
    page = await runtime.bookings.slots.slots(start - 2 * HOUR, start, "jinkui")
    assert [s.id for s in page] == [earlier.id, *(s.id for s in same)]
    assert int(same[-1].id) >= 10  # the ids really do pass 9


def test_slot_files_are_capped_and_read_as_excel_saves_them() -> None:
    catalog = load_catalog()
    head = "base,date,start,end,capacity,task\n"
    row = "jinkui,2099-12-01,09:00,12:00,5,植树\n"
    gbk = (head + row).encode("gbk")  # Chinese Excel's "CSV"
    assert len(read_csv(catalog, io.StringIO(decoded(gbk), newline=""))) == 1
    bom = (head + row).encode("utf-8-sig")
    assert len(read_csv(catalog, io.StringIO(decoded(bom), newline=""))) == 1
    with pytest.raises(CommandError, match="not UTF-8 or GBK"):
        decoded(b"\xff\xfe\x00\x00junk")
    with pytest.raises(CommandError, match="at most 2,000 slots"):
        read_csv(catalog, io.StringIO(head + row * 2001, newline=""))


async def test_the_check_in_qr_comes_back_with_my_bookings(runtime: Runtime) -> None:
    """After a reload (or on another day), 我的预约 and /bookings show each upcoming booked
    place's code again as a QR code to show at the gate."""
    first = await add_slot(runtime, hours_ahead=20)
    second = await add_slot(runtime, base="xinheyuan", hours_ahead=50)
    chat = Chat(runtime.engine, user_id="v", display_name="李四")
    for slot in (first, second):
        await chat.say("/book")
        await chat.tap(f"base:{slot.base}")
        await chat.book(slot.id)
    codes = {b.code for b in (await runtime.bookings.slots.bookings(UserKey("test:v"))).values()}
    await chat.say("/bookings")
    shown = [m for m in chat.replies if m.image is not None]
    assert len(shown) == 2
    read = {zxingcpp.read_barcodes(Image.open(io.BytesIO(m.image)))[0].text for m in shown}
    assert read == codes
