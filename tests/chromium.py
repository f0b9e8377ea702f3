"""Debian's Chromium for browser tests, driven by Playwright: installed with the fonts a phone
has when missing (root with apt-get), launched with no traffic beyond 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

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
    missing = [name for name, path in PACKAGES.items() if not path.exists()]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{', '.join(missing)} missing and cannot be installed here (root, apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)  # noqa: S607
    subprocess.run(  # noqa: S603 - package names from the table above
        ["apt-get", "install", "-y", "-qq", *missing],  # noqa: S607
        env=env,
        check=True,
        timeout=900,
    )


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
