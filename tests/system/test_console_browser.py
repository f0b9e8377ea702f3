"""The admin console in Debian's Chromium (Playwright), at phone and laptop sizes; the
screenshots land in tests/output/ to be looked at."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import qrcode
from aiohttp.test_utils import TestServer
from PIL import Image
from playwright.async_api import Browser, Page, expect

from bot.channels.port import Port
from bot.channels.telegram.inbound import TELEGRAM
from bot.config import Settings
from bot.model import UserKey
from bot.runtime import Runtime
from bot.web.app import create_app
from bot.worker.appeals import AppealSender
from bot.worker.outbox import Worker
from tests.fakes.telegram import FakeTelegram
from tests.kit.chat import Chat
from tests.kit.chromium import launched
from tests.kit.console import PASSWORD, account
from tests.kit.fulfil import pay, photo
from tests.kit.paths import TESTS
from tests.kit.slots import add_slot, starting_now
from tests.kit.telegram import telegram_settings

OUTPUT = TESTS / "output"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1440, "height": 900}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched() as browser:
        yield browser


@pytest.fixture
async def server(settings: Settings, runtime: Runtime) -> AsyncIterator[TestServer]:
    plain = dataclasses.replace(settings, public_base_url="http://127.0.0.1")
    async with TestServer(create_app(plain, runtime), host="127.0.0.1") as server:
        yield server


async def logged_in(
    browser: Browser, server: TestServer, name: str, viewport: dict[str, int], path: str = "/admin"
) -> Page:
    """A browser page of an admin who logged in through the form, at `path`."""
    context = await browser.new_context(locale="zh-CN", viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(str(server.make_url(path)))
    await expect(page.locator("h1")).to_contain_text("管理后台登录")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    return page


async def some_figures(runtime: Runtime) -> None:
    """Pledges at two bases, one of them paid."""
    for user, base in (("d1", "jinkui"), ("d2", "changguangxi")):
        chat = Chat(runtime.engine, user_id=user)
        await chat.pledge(base, "donation", "100", "张三")
    await pay(runtime, "test:d1")


@pytest.mark.parametrize(("viewport", "size"), [(PHONE, "phone"), (LAPTOP, "laptop")])
async def test_log_in_and_the_dashboard_draws_its_charts(
    browser: Browser, server: TestServer, runtime: Runtime, viewport: dict[str, int], size: str
) -> None:
    await account(runtime, "greening", "city")
    await some_figures(runtime)
    coming = await add_slot(runtime, hours_ahead=72, capacity=4)  # in the default period
    volunteer = Chat(runtime.engine, user_id="v1", display_name="李四")
    await volunteer.say("/book")
    await volunteer.tap("base:jinkui")
    await volunteer.book(coming.id)
    problems: list[str] = []
    page = await logged_in(browser, server, "greening", viewport)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await expect(page.locator("h1")).to_have_text("概览")
    await expect(page.locator("#tile-participants")).to_have_text("2")
    await expect(page.locator("#tile-paid")).to_have_text("¥100")
    await expect(page.locator("#status-fulfilled")).to_have_text("1")
    await expect(page.locator("#tile-fill")).to_have_text("25%")  # the coming slot counts
    for chart in ("days", "bases", "forms", "fill"):
        await expect(page.locator(f"#chart-{chart} canvas")).to_have_count(1)
    assert "greening · 市级管理员" in await page.locator(".who").inner_text()
    legend = await page.locator("#chart-days .u-legend").inner_text()
    assert "日期" in legend and "Time" not in legend
    drawn = await page.evaluate(
        "() => { const c = document.querySelector('#chart-bases canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let green = 0; for (let i = 0; i < d.length; i += 4)"
        " if (d[i+1] > 150 && d[i] < 160 && d[i+2] < 160) green++; return green; }"
    )
    assert drawn > 200  # the bars are there, in green
    scrolls = await page.evaluate("() => document.documentElement.scrollWidth > innerWidth")
    assert not scrolls  # nothing wider than the screen
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / f"console-dashboard-{size}.png"), full_page=True)
    await page.goto(str(server.make_url("/admin?from=2020-01-01&to=2020-01-31")))
    for chart in ("days", "bases", "forms", "fill"):
        await expect(page.locator(f"#chart-{chart}")).to_have_text("此期间暂无数据")
    await page.click("text=English")
    await expect(page.locator("h1")).to_have_text("Dashboard")  # the same period, in English
    await expect(page.locator("#chart-days")).to_have_text("no data in this period")
    assert "greening · city admin" in await page.locator(".who").inner_text()
    assert problems == []


async def test_approving_a_claim_sends_the_certificate_on_telegram(
    browser: Browser, settings: Settings, runtime: Runtime
) -> None:
    async with FakeTelegram() as telegram:
        plain = dataclasses.replace(settings, public_base_url="http://127.0.0.1")
        app = create_app(telegram_settings(plain, telegram, polling=True), runtime)
        async with TestServer(app, host="127.0.0.1") as server:
            citizen = Chat(runtime.engine, user_id="7001", channel="telegram")
            await citizen.pledge("jinkui", "in_kind", "200", "张三丰")
            await citizen.send(text="三箱树苗", photo=photo())
            await account(runtime, "reviewer", "reviewer")
            page = await logged_in(browser, server, "reviewer", PHONE, "/admin/claims")
            card = page.locator("article.claim").first
            await expect(card).to_contain_text("张*丰")
            await expect(card).to_contain_text("三箱树苗")
            await page.wait_for_function(
                "() => { const i = document.querySelector('article.claim img');"
                " return i && i.complete && i.naturalWidth > 0; }"
            )  # the photo, through its signed link
            OUTPUT.mkdir(exist_ok=True)
            await page.screenshot(path=str(OUTPUT / "console-claims-phone.png"), full_page=True)
            await card.locator("button", has_text="通过").first.click()
            await expect(card.locator("[role=status]")).to_contain_text("已通过")
            outlet = server.app[TELEGRAM].outlet
            await Worker(runtime, Port({"telegram": outlet}, runtime.store.users)).run_once()
            (sent,) = telegram.of("sendPhoto")
            assert int(sent.params["chat_id"]) == 7001 and "WX20" in sent.params["caption"]


async def test_importing_receipts_previews_then_applies(
    browser: Browser, server: TestServer, runtime: Runtime
) -> None:
    chat = Chat(runtime.engine, user_id="donor")
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    (pledge,) = await runtime.pledges.of_user("test:donor")
    reference = (await runtime.payments.checkout(pledge)).reference
    await account(runtime, "greening", "city")
    page = await logged_in(browser, server, "greening", LAPTOP, "/admin/payments")
    csv = f"reference,amount_yuan,paid_at,receipt_no\n{reference},100,2026-03-12,回单1\n"
    await page.set_input_files(
        "input[name=file]",
        files=[{"name": "回单.csv", "mimeType": "text/csv", "buffer": csv.encode("gbk")}],
    )
    await page.click("button:has-text('预览')")
    await expect(page.locator("#would-fulfil")).to_have_text("1")
    assert (await runtime.pledges.get(pledge.user_key, pledge.id)).status == "pledged"  # type: ignore[union-attr]
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "console-payments-laptop.png"), full_page=True)
    await page.click("button:has-text('确认导入')")
    await expect(page.locator("#import-report h3")).to_contain_text("已导入")
    assert (await runtime.pledges.get(pledge.user_key, pledge.id)).status == "fulfilled"  # type: ignore[union-attr]


def qr_video(text: str, path: Path, frames: int = 30) -> Path:
    """A Y4M video of a QR code, for Chromium's fake camera (what a phone camera would see)."""
    width, height = 480, 360
    code = qrcode.make(text, border=4).get_image().convert("L").resize((300, 300))
    picture = Image.new("L", (width, height), 255)
    picture.paste(code, ((width - 300) // 2, (height - 300) // 2))
    y = picture.tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + y + chroma + chroma)
    return path


async def book_the_slot(runtime: Runtime) -> str:
    """A volunteer books the one slot at Jinkui in the chat; their check-in code."""
    (slot,) = await runtime.bookings.slots.slots(0, 2**31, "jinkui")
    chat = Chat(runtime.engine, user_id="vol", display_name="李四")
    await chat.say("/book")
    await chat.tap("base:jinkui")
    await chat.book(slot.id)
    return (await runtime.bookings.slots.bookings(UserKey("test:vol")))[slot.id].code


async def test_add_a_slot_then_check_in_by_typed_code_and_by_the_camera(
    browser: Browser, server: TestServer, runtime: Runtime, tmp_path: Path
) -> None:
    await account(runtime, "gate", "base:jinkui")
    page = await logged_in(browser, server, "gate", PHONE, "/admin/slots")
    tomorrow = (datetime.now(runtime.catalog.timezone) + timedelta(days=1)).date()
    await page.fill("input[name=date]", str(tomorrow))
    await page.fill("input[name=start]", "09:00")
    await page.fill("input[name=end]", "11:00")
    await page.fill("input[name=capacity]", "5")
    await page.fill("input[name=task]", "植树")
    await page.click("button:has-text('新增')")
    await expect(page.locator("[role=status]")).to_contain_text("时段已新增")
    await expect(page.locator("#slots tbody tr")).to_have_count(1)
    await page.screenshot(path=str(OUTPUT / "console-slots-phone.png"), full_page=True)
    code = await book_the_slot(runtime)
    await starting_now(runtime, "1")  # the day has come: check-in is open
    video = qr_video(code, tmp_path / "qr.y4m")
    camera = (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    async with launched(*camera) as chromium:
        page = await logged_in(chromium, server, "gate", PHONE, "/admin/checkin")
        await page.context.grant_permissions(["camera"])
        await page.fill("#code", "NOSUCHCD")
        await page.click("#typed button")
        await expect(page.locator("#checkin-line")).to_contain_text("没有签到码")
        await expect(page.locator("#code")).to_have_value("")  # cleared for the next one
        await page.click("#camera")
        line = page.locator("#checkin-line")
        await expect(line).to_contain_text("李* 已在无锡经开区金匮公园签到")  # who, masked
        await expect(line).to_contain_text(re.compile(r"\d\d:\d\d-\d\d:\d\d"))  # the slot
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / "console-checkin-phone.png"))
        await page.fill("#code", code)
        await page.click("#typed button")
        await expect(page.locator("#checkin-line")).to_contain_text("李* 已于")
        await expect(page.locator("#code")).to_have_value("")
    assert await runtime.bookings.slots.attended_counts(["1"]) == [1]


async def test_an_appeal_is_sent_and_its_progress_reaches_done(
    browser: Browser, settings: Settings, runtime: Runtime
) -> None:
    async with FakeTelegram() as telegram:
        plain = dataclasses.replace(settings, public_base_url="http://127.0.0.1")
        app = create_app(telegram_settings(plain, telegram, polling=True), runtime)
        async with TestServer(app, host="127.0.0.1") as server:
            for i in range(5):
                await runtime.store.users.subscribe(UserKey(f"telegram:{8100 + i}"))
            await account(runtime, "greening", "city")
            page = await logged_in(browser, server, "greening", LAPTOP, "/admin/broadcasts")
            await page.fill("textarea[name=text_zh]", "3月12日植树节，欢迎到金匮公园一起种树！")
            await page.select_option("select[name=channel]", "telegram")
            await expect(page.locator("#audience")).to_contain_text("5 位订阅者")
            await expect(page.locator(".bubble.tg")).to_contain_text("植树节")
            await page.screenshot(
                path=str(OUTPUT / "console-broadcast-compose.png"), full_page=True
            )
            await page.click("button:has-text('发送')")
            await expect(page.locator("h1")).to_contain_text("倡议 #")
            port = Port({"telegram": server.app[TELEGRAM].outlet}, runtime.store.users)
            sender = AppealSender(runtime.appeals, runtime.store.users, port)
            stop = asyncio.Event()
            sending = asyncio.create_task(sender.run(stop, tick_s=0.2))
            try:
                await expect(page.locator("#appeal-status")).to_have_text("已完成", timeout=20_000)
            finally:
                stop.set()
                await sending
            await expect(page.locator("#appeal-done")).to_have_text("5")
            assert await page.locator("button:has-text('停止发送')").count() == 0
            await page.screenshot(path=str(OUTPUT / "console-broadcast-done.png"), full_page=True)
            assert len(telegram.of("sendMessage")) == 5


async def test_exports_download_in_the_browser(
    browser: Browser, server: TestServer, runtime: Runtime, tmp_path: Path
) -> None:
    chat = Chat(runtime.engine, user_id="donor")
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    await account(runtime, "greening", "city")
    page = await logged_in(browser, server, "greening", LAPTOP, "/admin/exports")
    for fmt, button in (("csv", "CSV"), ("xlsx", "Excel (XLSX)")):
        async with page.expect_download() as waiting:
            await page.click(f"button:has-text('{button}')")
        download = await waiting.value
        assert download.suggested_filename.endswith(f".{fmt}")
        path = tmp_path / download.suggested_filename
        await download.save_as(path)
        if fmt == "csv":
            assert path.read_text(encoding="utf-8-sig").startswith("pledge_id,")
        else:
            book = openpyxl.load_workbook(path, read_only=True)
            rows = list(book.active.iter_rows(values_only=True))
            book.close()  # read-only workbooks keep their file open until closed
            assert rows[0][0] == "pledge_id" and rows[1][2] == "jinkui"
