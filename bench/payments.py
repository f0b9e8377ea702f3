"""Benchmark: WeChat Pay notifications verified, decrypted and fulfilled per second by the bot
alone in one process (`python -m bot serve`), and a receipts import of many lines.

    python -m bench.payments [--orders 2000] [--concurrency 50] [--lines 100000]

Notifications are signed and encrypted as WeChat Pay does (tests/fake_wechatpay.py), built
before the clock starts, and posted once each, then once more (the retries WeChat Pay makes).
The import reads a CSV of `--lines` receipts of which a fifth match a waiting pledge (the
official channel's receipts include every donor; most never used the bot). Uses REDIS_URL
when set, else the bot's embedded server. Bounded; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from bench.common import bench_redis, bot_process, cpu_seconds
from bot.catalog import load_catalog
from bot.config import Settings
from bot.loop import run as run_loop
from bot.runtime import Runtime, build_runtime
from bot.services.pledges import Pledge, now_iso
from bot.services.receipts import check, read
from bot.store import Store, connect
from tests.fakes.wechatpay import APPID, MCHID, FakeWeChatPay

SECRET = "b" * 32  # bench.common's BOT_SECRET
CHUNK = 500


async def seed(runtime: Runtime, count: int, tag: str) -> list[Pledge]:
    """`count` confirmed donations of 100 yuan, each checked out (an order or a reference)."""
    made: list[Pledge] = []
    for first in range(0, count, CHUNK):
        chunk = [
            Pledge(
                id=f"{tag}{i:07d}",
                user_key=f"bench:{tag}{i}",  # type: ignore[arg-type]
                base="jinkui",
                form="donation",
                trees=5,
                amount_yuan=100,
                name="张三",
                locale="zh",
                created=now_iso(),
            )
            for i in range(first, min(count, first + CHUNK))
        ]
        confirmed = await asyncio.gather(*(runtime.pledges.confirm(p) for p in chunk))
        await asyncio.gather(*(runtime.payments.checkout(p) for p in confirmed))
        made += [await runtime.pledges.get(p.user_key, p.id) or p for p in confirmed]
    return made


def paid(out_trade_no: str) -> dict[str, object]:
    """The resource of a successful payment of 100 yuan."""
    return {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": out_trade_no,
        "transaction_id": f"4200{secrets.randbelow(10**24):024d}",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "success_time": "2026-03-12T10:00:00+08:00",
        "amount": {"total": 10_000, "payer_total": 10_000, "currency": "CNY"},
    }


async def notifications(url: str, orders: int, concurrency: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-pay-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    async with FakeWeChatPay() as fake, aiohttp.ClientSession() as session:
        base = Settings(redis_url=url, key_prefix=prefix, bot_secret=SECRET, data_dir=folder)
        settings = fake.configure(base, folder)
        store = Store(connect(url), prefix=prefix)
        runtime = await build_runtime(settings, store, load_catalog())
        try:
            pledges = await seed(runtime, orders, "N")
            bodies = [fake.notification(paid(p.order)) for p in pledges]
            env = {
                "REDIS_URL": url,
                "REDIS_KEY_PREFIX": prefix,
                "WECHATPAY_MCHID": MCHID,
                "WECHATPAY_APPID": APPID,
                "WECHATPAY_API_V3_KEY": settings.wechatpay_api_v3_key or "",
                "WECHATPAY_PRIVATE_KEY": str(settings.wechatpay_private_key),
                "WECHATPAY_CERT_SERIAL": settings.wechatpay_cert_serial or "",
                "WECHATPAY_PUBLIC_KEY": str(settings.wechatpay_public_key),
                "WECHATPAY_PUBLIC_KEY_ID": settings.wechatpay_public_key_id or "",
                "WECHATPAY_API_BASE_URL": fake.url,
            }
            async with bot_process(session, **env) as (address, pid):
                for label in ("first delivery", "retried (already paid)"):
                    before = cpu_seconds(pid)
                    rate, p50, p99 = await post_all(
                        session, f"{address}/pay/wechat/notify", bodies, concurrency
                    )
                    used = (cpu_seconds(pid) - before) / len(bodies)
                    print(
                        f"{label}: {len(bodies)} notifications, concurrency {concurrency}: "
                        f"{rate:.0f}/s end to end, p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
                        f"bot CPU {used * 1000:.2f} ms each → about {1 / used:.0f}/s on one core"
                    )
            after = [await runtime.pledges.get(p.user_key, p.id) for p in pledges]
            fulfilled = sum(1 for got in after if got and got.status == "fulfilled")
            once = all(
                got and [e.what for e in got.history].count("fulfilled") == 1 for got in after
            )
            print(f"fulfilled: {fulfilled} of {len(pledges)}, each exactly once: {once}")
        finally:
            await store.delete_prefix()
            await store.close()


async def post_all(
    session: aiohttp.ClientSession,
    endpoint: str,
    bodies: list[tuple[dict[str, str], bytes]],
    concurrency: int,
) -> tuple[float, float, float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(headers: dict[str, str], body: bytes) -> None:
        async with gate:
            start = time.perf_counter()
            async with session.post(endpoint, data=body, headers=headers) as response:
                if response.status != 204:
                    raise RuntimeError(f"notification answered {response.status}")
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(h, b) for h, b in bodies))
    elapsed = time.perf_counter() - start
    qs = statistics.quantiles(latencies, n=100)
    return len(bodies) / elapsed, qs[49] * 1000, qs[98] * 1000


async def receipts_import(url: str, lines: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    settings = Settings(redis_url=url, key_prefix=prefix, bot_secret=SECRET, data_dir=folder)
    store = Store(connect(url), prefix=prefix)
    runtime = await build_runtime(settings, store, load_catalog())
    try:
        matched = lines // 5
        started = time.perf_counter()
        pledges = await seed(runtime, matched, "R")
        print(f"seeded {matched} waiting pledges in {time.perf_counter() - started:.1f} s")
        path = folder / "receipts.csv"
        with path.open("w", encoding="utf-8-sig") as out:
            out.write("reference,amount_yuan,paid_at,receipt_no\n")
            for i in range(lines):
                reference = pledges[i].reference if i < matched else f"X{i:07d}"
                out.write(f"{reference},100.00,2026-03-12 10:00,R{i:08d}\n")
        before = peak_rss_reset()
        start = time.perf_counter()
        encoding, count = check(path)
        checked = time.perf_counter() - start
        report = await runtime.payments.import_receipts(read(path, encoding))
        elapsed = time.perf_counter() - start
        print(
            f"import of {count} lines ({path.stat().st_size / 1e6:.1f} MB): {elapsed:.1f} s "
            f"(check {checked:.1f} s), {count / elapsed:.0f} lines/s; "
            f"{report.fulfilled} fulfilled, {sum(report.not_matched.values())} not matched"
        )
        print(f"resident memory: {before:.0f} MB before, peak {peak_rss():.0f} MB during")
    finally:
        await store.delete_prefix()
        await store.close()


def peak_rss_reset() -> float:
    """The resident set now (MB), the kernel's peak mark reset to it."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss()


def peak_rss() -> float:
    """The peak resident set since the last reset (MB; Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(orders: int, concurrency: int, lines: int) -> None:
    with bench_redis() as url:
        await notifications(url, orders, concurrency)
        await receipts_import(url, lines // 10)
        await receipts_import(url, lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    run_loop(main(args.orders, args.concurrency, args.lines))
