"""Debian's Chromium for browser tests, driven by Playwright: installed with the fonts a phone
has when missing (root with apt-get), launched with no traffic beyond 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from tests.kit.debian import install_missing

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [  # no sandbox as root; no background traffic on a machine without internet
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


PACKAGES = {  # Debian package: a file it installs
    "chromium": CHROMIUM,
    "fonts-noto-cjk": Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    "fonts-noto-color-emoji": Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
}


def ensure_chromium() -> None:
    """Install Debian's chromium and the fonts a phone has (CJK, colour emoji) when they are
    missing and we may (root with apt-get), so screenshots show the page as people see it."""
    install_missing(PACKAGES)


@contextlib.asynccontextmanager
async def launched(*extra: str) -> AsyncIterator[Browser]:
    """A headless Chromium (with `extra` command-line flags), closed afterwards."""
    ensure_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*FLAGS, *extra]
        )
        try:
            yield browser
        finally:
            await browser.close()
