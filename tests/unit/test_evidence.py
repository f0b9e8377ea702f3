"""Pictures people send, as an attacker would send them: a small PNG that unpacks to 50
megapixels is refused without being decoded, a huge JPEG is decoded scaled down, at most two
decodes run at a time per process, and never on the event loop (the console's appeal picture
included)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import threading
import time
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.config import Settings
from bot.runtime import Runtime
from bot.services import evidence
from bot.web.app import create_app
from tests.kit.console import account, csrf_of, log_in


def picture(size: tuple[int, int], kind: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white" if mode == "RGB" else 255).save(out, format=kind)
    return out.getvalue()


def test_a_flat_pixel_bomb_is_refused_before_it_is_decoded() -> None:
    bomb = picture((7070, 7070), "PNG", mode="L")  # 50 megapixels in about 50 KB
    assert len(bomb) < 100_000
    assert evidence.reencode(bomb) is None  # over MAX_FLAT_PIXELS: never unpacked
    photo = picture((4000, 3000), "PNG")  # a phone's PNG: kept, scaled down
    kept = evidence.reencode(photo)
    assert kept is not None and max(Image.open(io.BytesIO(kept)).size) == 1600


def test_a_huge_jpeg_is_decoded_scaled_down() -> None:
    huge = picture((8000, 6000), "JPEG")  # 48 megapixels
    started = time.process_time()
    kept = evidence.reencode(huge)
    assert kept is not None and Image.open(io.BytesIO(kept)).size == (1600, 1200)
    assert time.process_time() - started < 5  # drafted: far from decoding 48 MP in full


async def test_at_most_two_decodes_at_a_time_and_none_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, most, threads = 0, 0, set()
    lock = threading.Lock()

    def slow(data: bytes, image_format: str = "JPEG") -> bytes | None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threads.add(threading.current_thread().name)
        time.sleep(0.1)
        with lock:
            running -= 1
        return data

    monkeypatch.setattr(evidence, "reencode", slow)
    await asyncio.gather(*(evidence.keep(b"x") for _ in range(6)))
    assert most == 2 and threading.main_thread().name not in threads


async def test_the_consoles_appeal_picture_is_decoded_off_the_event_loop(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = evidence.reencode

    def watched(data: bytes, image_format: str = "JPEG") -> Any:
        seen.append(threading.current_thread().name)
        return real(data, image_format)

    monkeypatch.setattr(evidence, "reencode", watched)
    plain = dataclasses.replace(settings, public_base_url="http://127.0.0.1:8080")  # cookies
    await account(runtime, "greening", "city")
    async with TestClient(TestServer(create_app(plain, runtime))) as client:
        await log_in(client, "greening")
        form = FormData()
        form.add_field("csrf", await csrf_of(client))
        form.add_field("text_zh", "植树节")
        form.add_field("channel", "all")
        form.add_field("lang", "all")
        form.add_field("image", io.BytesIO(picture((800, 600), "PNG")), filename="a.png")
        sent = await client.post("/admin/broadcasts", data=form)
        assert sent.status == 200, await sent.text()
    (appeal,) = await runtime.appeals.recent()
    assert await runtime.appeals.image(appeal) is not None
    assert seen and threading.main_thread().name not in seen
