"""The web chat in a real browser: Debian's Chromium driven by Playwright, against the real
server on 127.0.0.1, from the welcome to the certificate image on the page."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from bot.catalog import load_catalog
from bot.channels.port import Port
from bot.config import Settings
from bot.model import UserKey
from bot.runtime import Runtime, build_runtime
from bot.store import Store
from bot.web.app import create_app
from bot.worker.outbox import Worker
from tests.fakes.wechat import APP_ID, APP_SECRET, FakeWeChat
from tests.fakes.wechatpay import FakeWeChatPay
from tests.kit.chat import Chat
from tests.kit.chromium import launched
from tests.kit.fulfil import pay, photo
from tests.kit.paths import TESTS

OUTPUT = TESTS / "output"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched() as browser:
        yield browser


@pytest.fixture
async def server(settings: Settings, runtime: Runtime) -> AsyncIterator[TestServer]:
    async with TestServer(create_app(settings, runtime), host="127.0.0.1") as server:
        yield server


async def open_chat(browser: Browser, server: TestServer, **options: Any) -> Page:
    context = await browser.new_context(**options)
    page = await context.new_page()
    await page.goto(str(server.make_url("/chat")))
    return page


async def tap(page: Page, label: str) -> None:
    await page.locator(".buttons button:enabled", has_text=label).first.click()


async def begin_pledge(page: Page, screenshot: str = "") -> None:
    """我要尽责, then the privacy notice the first time: agree, aged 14-55."""
    await tap(page, "我要尽责")
    await expect(page.locator(".bot .bubble").last).to_contain_text("运营方")
    await expect(page.locator(".bot .bubble a.out", has_text="/privacy").last).to_be_visible()
    if screenshot:
        OUTPUT.mkdir(exist_ok=True)
        await page.screenshot(path=str(OUTPUT / screenshot))
    await tap(page, "同意并继续")
    await tap(page, "14–55 周岁")


async def pledge_on_the_page(page: Page, form: str, amount: str) -> None:
    """From the notice: Jinkui, the form, the amount, the name, confirm."""
    await begin_pledge(page)
    await tap(page, "无锡经开区金匮公园")
    await tap(page, form)
    await type_line(page, amount)
    await type_line(page, "张三丰")
    await tap(page, "确认提交")
    await expect(page.locator(".bot .bubble", has_text="已记录您的尽责承诺")).to_have_count(1)


async def type_line(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def web_user(runtime: Runtime) -> str:
    """The one web visitor who pledged."""
    keys = runtime.store.keys
    async for key in runtime.store.redis.scan_iter(match=keys.pledges("web:*")):
        return str(key).split("{u:", 1)[1].split("}", 1)[0]
    raise AssertionError("no web visitor pledged")


async def test_the_journey_in_the_browser_shows_the_certificate(
    browser: Browser, server: TestServer, runtime: Runtime
) -> None:
    page = await open_chat(
        browser, server, locale="zh-CN", viewport={"width": 390, "height": 844}
    )  # a phone screen
    await expect(page.locator(".bot .bubble").first).to_contain_text("全民义务植树")
    await begin_pledge(page, screenshot="chat-notice.png")
    await tap(page, "无锡经开区金匮公园")
    card = page.locator(".bot img.photo").last  # the base's picture, address and map link
    await expect(card).to_be_visible()
    await expect(page.locator(".bot .bubble a.out", has_text="/map/jinkui").last).to_be_visible()
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "chat-base.png"))
    await tap(page, "捐资")
    await type_line(page, "100")
    await expect(page.locator(".bot .bubble").last).to_contain_text("证书上印什么姓名")
    await type_line(page, "张三丰")
    await tap(page, "确认提交")
    await expect(page.locator(".bot .bubble").last).to_contain_text("参考码")
    assert await page.locator(".certificate").count() == 0  # nothing paid yet
    assert await pay(runtime, await web_user(runtime))  # the receipt is imported
    await Worker(runtime, Port({}, runtime.store.users)).run_once()  # a note for the visitor
    await tap(page, "我的尽责")
    image = page.locator(".certificate img").last
    await expect(image).to_be_visible()
    await page.wait_for_function(
        "() => { const i = document.querySelector('.certificate img'); "
        "return i && i.complete && i.naturalWidth >= 1080; }"
    )
    assert await page.locator(".certificate a").first.get_attribute("href") is not None
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "chat-arrived.png"), full_page=False)
    await tap(page, "WX2026-")  # the certificate again, as the last message
    await expect(page.locator(".certificate")).to_have_count(2)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.certificate img')].every("
        "i => i.complete && i.naturalWidth >= 1080)"
    )
    await expect(page.locator(".certificate a.download").last).to_be_in_viewport()
    await expect(page.locator(".certificate a.verify").last).to_be_in_viewport()
    await page.screenshot(path=str(OUTPUT / "chat-phone.png"), full_page=False)
    bubbles = await page.locator(".bot .bubble").count()
    await page.reload()  # the transcript and the conversation survive a reload
    await expect(page.locator(".certificate img").first).to_be_visible()
    await expect(page.locator(".buttons button:enabled").first).to_be_visible()
    await page.wait_for_timeout(300)
    assert await page.locator(".bot .bubble").count() == bubbles  # no welcome again


async def test_a_certificate_is_shared_as_a_poster(
    browser: Browser, server: TestServer, runtime: Runtime
) -> None:
    page = await open_chat(browser, server, locale="zh-CN", viewport={"width": 390, "height": 844})
    await pledge_on_the_page(page, "捐资", "100")
    assert await pay(runtime, await web_user(runtime))
    await Worker(runtime, Port({}, runtime.store.users)).run_once()  # a note for the visitor
    await tap(page, "我的尽责")
    share = page.locator(".certificate a.share").last  # beside download and verify
    await expect(share).to_have_text("分享海报")
    await tap(page, "📤 分享：无锡经开区金匮公园")
    await expect(page.locator(".bot .bubble").last).to_contain_text("长按图片")
    await page.wait_for_function(
        "() => { const i = document.querySelector('.poster img'); "
        "return i && i.complete && i.naturalWidth === 1080 && i.naturalHeight === 1920; }"
    )
    href = await share.get_attribute("href")
    assert href is not None and href.startswith("/posters/WX2026-")
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "chat-share.png"), full_page=False)
    async with ClientSession() as session:
        async with session.get(str(server.make_url(href))) as got:
            assert got.status == 200 and got.content_type == "image/jpeg"
        async with session.get(str(server.make_url(href.split("?")[0] + "?t=forged"))) as bad:
            assert bad.status == 404


async def test_text_from_the_bot_is_never_html(browser: Browser, server: TestServer) -> None:
    page = await open_chat(browser, server, locale="en-US")
    await expect(page.locator(".bot .bubble").first).to_contain_text("Hello")
    await type_line(page, "<img src=x onerror=alert(1)>")
    await expect(page.locator(".me .bubble").last).to_have_text("<img src=x onerror=alert(1)>")
    assert await page.locator("img[src=x]").count() == 0


async def test_a_reload_shows_the_last_question_not_the_welcome(
    browser: Browser, server: TestServer
) -> None:
    page = await open_chat(browser, server, locale="zh-CN")
    await begin_pledge(page)
    await tap(page, "无锡经开区金匮公园")
    await expect(page.locator(".bot .bubble").last).to_contain_text("以哪种方式尽责")
    bubbles = await page.locator(".bot .bubble").count()
    await page.reload()
    await expect(page.locator(".bot .bubble").last).to_contain_text("以哪种方式尽责")
    await page.wait_for_timeout(300)
    assert await page.locator(".bot .bubble").count() == bubbles  # no second welcome
    await tap(page, "捐资")  # the last question's buttons still work
    await expect(page.locator(".bot .bubble").last).to_contain_text("请输入捐资金额")


async def test_lang_switches_the_page_too(browser: Browser, server: TestServer) -> None:
    page = await open_chat(browser, server, locale="zh-CN", viewport={"width": 390, "height": 844})
    await expect(page.locator(".bot .bubble").first).to_contain_text("全民义务植树")
    await type_line(page, "/lang")
    await tap(page, "English")
    await expect(page.locator(".bar-title")).to_have_text("Wuxi Online Tree-Planting Duty")
    await expect(page.locator("#composer button")).to_have_text("Send")
    assert (
        await page.locator("#text").get_attribute("placeholder") == "Type here, or tap an option"
    )
    assert await page.evaluate("document.documentElement.lang") == "en"
    fits = "() => { const i = document.getElementById('text'); "
    fits += "return i.scrollWidth <= i.clientWidth; }"
    assert await page.evaluate(fits)  # the English placeholder is not cut off
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "chat-english.png"))


async def test_a_failed_turn_can_be_tried_again(browser: Browser, server: TestServer) -> None:
    page = await open_chat(browser, server, locale="zh-CN")
    await expect(page.locator(".buttons button:enabled").first).to_be_visible()
    failures = [0]

    async def once_down(route: Any) -> None:
        if failures[0] == 0:
            failures[0] += 1
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/chat/api", once_down)
    await tap(page, "我要尽责")
    await expect(page.locator(".failed .bubble")).to_contain_text("网络")
    assert await page.locator(".msg:not(.failed) .buttons button:enabled").count() > 0
    await page.locator("button.retry").click()
    await expect(page.locator(".bot .bubble").last).to_contain_text("运营方")  # the notice first
    assert await page.locator(".failed").count() == 0


async def test_the_page_is_whole(browser: Browser, server: TestServer) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
    await page.goto(str(server.make_url("/chat")))
    await expect(page.locator(".bot .bubble").first).to_contain_text("Hello")
    favicon = await page.request.get(str(server.make_url("/favicon.ico")))
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/png"
    same_font = (
        "() => getComputedStyle(document.querySelector('.buttons button')).fontFamily"
        " === getComputedStyle(document.body).fontFamily"
    )
    assert await page.evaluate(same_font)
    assert problems == []


async def test_paying_by_wechat_pay_from_the_web_chat(
    browser: Browser, settings: Settings, store: Store, tmp_path: Path
) -> None:
    async with FakeWeChatPay() as wechatpay:
        pay_settings = wechatpay.configure(settings, tmp_path)
        runtime = await build_runtime(pay_settings, store, load_catalog())
        app = create_app(pay_settings, runtime)
        async with TestServer(app, host="127.0.0.1") as server:
            page = await open_chat(
                browser, server, locale="zh-CN", viewport={"width": 390, "height": 844}
            )
            await begin_pledge(page)
            await tap(page, "无锡经开区金匮公园")
            await tap(page, "捐资")
            await type_line(page, "100")
            await type_line(page, "张三丰")
            await tap(page, "确认提交")
            link = page.locator(".bot .bubble a.out", has_text="/pay/").last  # the pay link
            await expect(link).to_be_visible()
            href = await link.get_attribute("href") or ""
            assert href.startswith("https://trees.example.org/pay/")
            pay_page = await page.context.new_page()
            await pay_page.goto(str(server.make_url(urlsplit(href).path)))
            await expect(pay_page.locator("h1.amount")).to_have_text("¥ 100.00")
            await expect(pay_page.locator("img.qr")).to_be_visible()
            OUTPUT.mkdir(exist_ok=True)
            await pay_page.screenshot(path=str(OUTPUT / "pay-phone.png"))
            (no,) = wechatpay.orders
            headers, body = wechatpay.notification(wechatpay.pay(no))
            async with ClientSession() as http:
                notified = await http.post(
                    str(server.make_url("/pay/wechat/notify")), data=body, headers=headers
                )
                assert notified.status == 204
            await expect(pay_page.locator("#state")).to_contain_text("已支付", timeout=10_000)
            assert await pay_page.locator("img.qr").count() == 0
            await pay_page.screenshot(path=str(OUTPUT / "pay-paid.png"))
            await Worker(runtime, Port({}, runtime.store.users)).run_once()
            await tap(page, "我的尽责")
            await expect(page.locator(".certificate img").last).to_be_visible()


async def test_a_photo_from_the_camera_button_becomes_a_claim(
    browser: Browser, server: TestServer, runtime: Runtime
) -> None:
    page = await open_chat(browser, server, locale="zh-CN", viewport={"width": 390, "height": 844})
    await pledge_on_the_page(page, "捐物", "200")
    await expect(page.locator(".bot .bubble").last).to_contain_text("捐赠物品或收据的照片")
    picked = [{"name": "收据.jpg", "mimeType": "image/jpeg", "buffer": photo()}]
    await page.set_input_files("#photo", files=picked)  # type: ignore[arg-type]
    await expect(page.locator("#photo-bar")).to_be_visible()  # waits, with a caption field
    await page.click("#photo-cancel")  # put back: nothing is sent
    await expect(page.locator("#photo-bar")).to_be_hidden()
    assert await runtime.claims.waiting() == []
    await page.fill("#text", "三箱树苗")  # typed first: it becomes the caption
    await page.set_input_files("#photo", files=picked)  # type: ignore[arg-type]
    await expect(page.locator("#caption")).to_have_value("三箱树苗")
    await page.fill("#caption", "三箱树苗，金匮公园东门")
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "chat-photo-caption.png"))
    await page.click("#photo-send")
    await expect(page.locator(".me .bubble").last).to_contain_text("📷 三箱树苗，金匮公园东门")
    await expect(page.locator(".bot .bubble").nth(-2)).to_contain_text("已收到")
    await expect(page.locator(".bot .bubble").last).to_contain_text("基地的公开页面")
    (claim,) = await runtime.claims.waiting()
    assert claim.note == "三箱树苗，金匮公园东门"
    await page.screenshot(path=str(OUTPUT / "chat-photo.png"))
    await tap(page, "可以展示")  # once approved, on the base's page
    await expect(page.locator(".bot .bubble").last).to_contain_text("感谢分享")
    assert await runtime.store.claims.may_show(claim.id)


@pytest.mark.parametrize(
    ("lang", "heading", "operator"),
    [
        ("zh", "个人信息保护告知", "无锡市全民义务植树网上尽责平台"),
        ("en", "Privacy notice", "Wuxi Online Voluntary Tree-Planting Platform"),
    ],
)
async def test_the_privacy_page_on_a_phone(
    browser: Browser, server: TestServer, lang: str, heading: str, operator: str
) -> None:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await page.goto(str(server.make_url(f"/privacy?lang={lang}")))
    await expect(page.locator("h1")).to_have_text(heading)
    await expect(page.locator("#operator")).to_have_text(operator)
    await expect(page.locator("#privacy")).to_contain_text("/mydata")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    other = "en" if lang == "zh" else "zh"
    assert await page.locator(f'a[href="/privacy?lang={other}"]').count() == 1
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / f"privacy-{lang}.png"), full_page=True)
    await context.close()


async def test_the_wechat_subscribe_page_outside_wechat_says_where_to_open_it(
    browser: Browser, settings: Settings, store: Store, runtime: Runtime
) -> None:
    async with FakeWeChat() as fake:
        configured = dataclasses.replace(
            settings,
            key_prefix=store.prefix,
            wechat_token="t",  # noqa: S106 - a test value
            wechat_app_id=APP_ID,
            wechat_app_secret=APP_SECRET,
            wechat_api_base_url=fake.url,
            wechat_templates=(("reminder", "TPL-R"), ("result", "TPL-S")),
        )
        async with TestServer(create_app(configured, runtime), host="127.0.0.1") as server:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            await page.goto(str(server.make_url("/wechat/subscribe?lang=zh")))
            await expect(page.locator("h1")).to_have_text("开启微信通知")
            await expect(page.locator("#state")).to_have_text("请在微信中打开本页面。")
            assert problems == []
            OUTPUT.mkdir(exist_ok=True)
            await page.screenshot(path=str(OUTPUT / "wechat-subscribe.png"), full_page=True)
            await context.close()


async def test_forget_clears_what_the_page_kept(browser: Browser, server: TestServer) -> None:
    """Once the bot confirms /forget, the transcript (names, links) the page kept in the
    browser is gone too: a reload shows a new welcome, not the old conversation."""
    page = await open_chat(browser, server, locale="zh-CN")
    await begin_pledge(page)
    await tap(page, "无锡经开区金匮公园")
    await tap(page, "捐资")
    await type_line(page, "60")
    await type_line(page, "钱七")
    await tap(page, "确认")
    kept = await page.evaluate("localStorage.getItem('tp-transcript')")
    assert "钱七" in kept
    await type_line(page, "/forget")
    await tap(page, "删除")
    await expect(page.locator(".bot .bubble").last).to_contain_text("已删除")
    assert await page.evaluate("localStorage.getItem('tp-transcript')") is None
    await page.reload()
    await expect(page.locator(".bot .bubble").last).to_contain_text("您好！这里是无锡")
    assert "钱七" not in await page.locator("#log").inner_text()


def _errors_into(errors: list[str], message: ConsoleMessage) -> None:
    if message.type == "error":
        errors.append(message.text)


@pytest.mark.parametrize(
    ("path", "name", "heading"),
    [("/open", "open", "公开账本"), ("/bases/jinkui?lang=en", "base", "Jinkui Park")],
)
async def test_the_open_books_on_a_phone_and_a_desktop(
    browser: Browser, server: TestServer, runtime: Runtime, path: str, name: str, heading: str
) -> None:
    chat = Chat(runtime.engine, user_id="opener")
    await chat.pledge("jinkui", "donation", "100", "张三丰")
    assert await pay(runtime, "test:opener")
    OUTPUT.mkdir(exist_ok=True)
    for device, viewport in (("phone", (390, 844)), ("desktop", (1280, 900))):
        context = await browser.new_context(
            locale="zh-CN", viewport={"width": viewport[0], "height": viewport[1]}
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", partial(_errors_into, errors))
        await page.goto(str(server.make_url(path)))
        await expect(page.locator("h1")).to_contain_text(heading)
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert errors == []  # nothing refused by the page's CSP
        await page.screenshot(path=str(OUTPUT / f"{name}-{device}.png"), full_page=True)
        await context.close()


async def test_a_teams_page_and_joining_from_it(
    browser: Browser, server: TestServer, runtime: Runtime
) -> None:
    organiser = UserKey("test:organiser")
    made = await runtime.teams.create(organiser, "市林业局绿色先锋队", "jinkui", 100, 2026)
    assert not isinstance(made, str)
    OUTPUT.mkdir(exist_ok=True)
    for device, viewport in (("phone", (390, 844)), ("desktop", (1280, 900))):
        context = await browser.new_context(
            locale="zh-CN", viewport={"width": viewport[0], "height": viewport[1]}
        )
        page = await context.new_page()
        await page.goto(str(server.make_url(f"/teams/{made.code}")))
        await expect(page.locator("#team")).to_contain_text("市林业局绿色先锋队")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.screenshot(path=str(OUTPUT / f"team-{device}.png"), full_page=True)
        if device == "phone":
            await page.locator("a", has_text="在网页中加入").click()
            await expect(page.locator(".bot .bubble").last).to_contain_text("您已加入团队")
            assert "join=" not in page.url  # a reload does not join again
        await context.close()
