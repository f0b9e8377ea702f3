"""The web chat in a real browser: Debian's Chromium driven by Playwright, against the real
server on 127.0.0.1, from the welcome to the certificate image on the page."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).parent / "output"
FLAGS = [  # no sandbox as root; no background traffic on a machine without internet
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> None:
    """Install Debian's chromium when it is missing and we may (root with apt-get)."""
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Chromium is missing and cannot be installed here (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)  # noqa: S607
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"],  # noqa: S607
        env=env,
        check=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ensure_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        await browser.close()


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


async def type_line(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def test_the_journey_in_the_browser_shows_the_certificate(
    browser: Browser, server: TestServer
) -> None:
    page = await open_chat(
        browser, server, locale="zh-CN", viewport={"width": 390, "height": 844}
    )  # a phone screen
    await expect(page.locator(".bot .bubble").first).to_contain_text("全民义务植树")
    await tap(page, "我要尽责")
    await tap(page, "无锡经开区金匮公园")
    await tap(page, "捐资捐物")
    await type_line(page, "100")
    await expect(page.locator(".bot .bubble").last).to_contain_text("证书上印什么姓名")
    await type_line(page, "张三丰")
    await tap(page, "确认提交")
    image = page.locator(".certificate img").last
    await expect(image).to_be_visible()
    await page.wait_for_function(
        "() => { const i = document.querySelector('.certificate img'); "
        "return i && i.complete && i.naturalWidth >= 1080; }"
    )
    assert await page.locator(".certificate a").first.get_attribute("href") is not None
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "chat-phone.png"), full_page=False)
    await page.reload()  # the transcript and the conversation survive a reload
    await expect(page.locator(".certificate img").first).to_be_visible()
    await expect(page.locator(".buttons button:enabled").first).to_be_visible()


async def test_text_from_the_bot_is_never_html(browser: Browser, server: TestServer) -> None:
    page = await open_chat(browser, server, locale="en-US")
    await expect(page.locator(".bot .bubble").first).to_contain_text("Hello")
    await type_line(page, "<img src=x onerror=alert(1)>")
    await expect(page.locator(".me .bubble").last).to_have_text("<img src=x onerror=alert(1)>")
    assert await page.locator("img[src=x]").count() == 0
