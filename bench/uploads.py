"""Benchmark: pictures that attack the decoder, uploaded at once to `serve`, and what they do
to its memory and to everyone else's answers.

    python -m bench.uploads [--uploads 12] [--kind png-bomb|jpeg-big|png-photo]

Each of N web visitors pledges an in-kind donation (a claim that waits for a photo), then all
of them POST /chat/photo at the same moment: by default a 7,070 x 7,070 grayscale PNG of about
50 KB (50 megapixels unpacked), or an 8,000 x 6,000 JPEG (`jpeg-big`), or a 4,000 x
3,000 PNG of some megabytes (`png-photo`: the largest flat picture that is decoded). While they
upload, /healthz is asked every 20 ms. Prints the serve process's resident memory before, at
its peak and after, and the slowest /healthz answer (the event loop's longest wait). Uses
REDIS_URL when set, else an embedded server; keys and files are deleted afterwards. Bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time

import aiohttp
from PIL import Image

from bench.common import bot_process
from bench.load import rss_mb
from bot.loop import run as run_loop

PLEDGE = (
    {"text": "/pledge"},
    {"choice": "privacy:agree"},
    {"choice": "age:adult"},
    {"choice": "base:jinkui"},
    {"choice": "form:in_kind"},
    {"text": "200"},
    {"text": "李四"},
    {"choice": "confirm"},
)


def attack(kind: str) -> bytes:
    """The picture every visitor sends."""
    out = io.BytesIO()
    if kind == "jpeg-big":
        Image.new("RGB", (8000, 6000), "white").save(out, format="JPEG")
    elif kind == "png-photo":  # the largest flat picture taken: decoded whole
        Image.linear_gradient("L").resize((4000, 3000)).convert("RGB").save(out, format="PNG")
    else:
        Image.new("L", (7070, 7070), 255).save(out, format="PNG", optimize=True)
    return out.getvalue()


async def visitor(base: str, number: int) -> aiohttp.ClientSession:
    """A visitor with a claim waiting for its photo (its own address, the bench a proxy)."""
    headers = {"X-Forwarded-For": f"10.9.{number // 250}.{number % 250 + 1}"}
    session = aiohttp.ClientSession(headers=headers, cookie_jar=aiohttp.CookieJar(unsafe=True))
    await session.get(f"{base}/chat")
    for body in PLEDGE:
        async with session.post(f"{base}/chat/api", json=body) as answer:
            answer.raise_for_status()
    return session


async def upload(session: aiohttp.ClientSession, base: str, data: bytes) -> int:
    form = aiohttp.FormData()
    form.add_field("photo", data, filename="photo", content_type="image/png")
    async with session.post(f"{base}/chat/photo", data=form) as answer:
        return answer.status


async def watch(pid: int, base: str, done: asyncio.Event) -> tuple[float, float]:
    """The peak memory (MB) and the slowest /healthz (s) until `done`."""
    peak, slowest = rss_mb(pid), 0.0
    async with aiohttp.ClientSession() as probe:
        while not done.is_set():
            began = time.perf_counter()
            async with probe.get(f"{base}/healthz") as answer:
                await answer.read()
            slowest = max(slowest, time.perf_counter() - began)
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.02)
    return peak, slowest


async def main(uploads: int, kind: str) -> None:
    data = attack(kind)
    async with (
        aiohttp.ClientSession() as session,
        bot_process(session, TRUSTED_PROXIES="127.0.0.1") as (base, pid),
    ):
        visitors = [await visitor(base, n) for n in range(uploads)]
        await asyncio.sleep(1)
        before = rss_mb(pid)
        done = asyncio.Event()
        watching = asyncio.create_task(watch(pid, base, done))
        began = time.perf_counter()
        statuses = await asyncio.gather(*(upload(v, base, data) for v in visitors))
        took = time.perf_counter() - began
        done.set()
        peak, slowest = await watching
        await asyncio.sleep(2)
        after = rss_mb(pid)
        for v in visitors:
            await v.close()
    print(f"{uploads} uploads of a {len(data) / 1024:.0f} KB {kind} at once: {took:.2f} s")
    print(f"answers: {sorted(set(statuses))}")
    print(
        f"serve memory: before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f}), "
        f"after {after:.0f} MB (+{after - before:.0f})"
    )
    print(f"slowest /healthz meanwhile: {slowest * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=12)
    kinds = ("png-bomb", "jpeg-big", "png-photo")
    parser.add_argument("--kind", choices=kinds, default="png-bomb")
    options = parser.parse_args()
    run_loop(main(options.uploads, options.kind))
