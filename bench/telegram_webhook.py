"""Benchmark: Telegram webhook updates per second end to end, the bot alone in one process
(`python -m bot serve`): HTTP in with the secret header, engine, Redis, HTTP out to a fake Bot
API on 127.0.0.1 that lives in this process, with the load generator. Latency runs from posting
an update to the fake API receiving the bot's answer.

    python -m bench.telegram_webhook [--users 300] [--concurrency 100]

Each user sends /start, "1" (pledge) and "金匮" (a base): three messages, one sendMessage each.
With --taps the last two are button taps, which also cost answerCallbackQuery and
editMessageReplyMarkup. TELEGRAM_RATE_LIMIT is lifted for
the measurement. Uses REDIS_URL when set, else the bot's embedded server. Bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from bench.common import bot_process, cpu_seconds
from bench.turns import bare_turn_cpu
from bot.channels.telegram.inbound import SECRET_HEADER
from bot.loop import run as run_loop
from tests.fakes.telegram import FakeTelegram
from tests.kit.telegram import SECRET, TelegramUser


async def run(users: int, concurrency: int, taps: bool) -> None:
    async with FakeTelegram() as fake, aiohttp.ClientSession() as session:
        settings = {
            "TELEGRAM_BOT_TOKEN": "1:bench",  # the fake API takes any token
            "TELEGRAM_API_BASE_URL": fake.url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_RATE_LIMIT": "1000000",
            "TELEGRAM_CHAT_RATE": "1000000",
        }
        async with bot_process(session, **settings) as (base, pid):
            before = cpu_seconds(pid)
            await measure(session, f"{base}/telegram", fake, users, concurrency, taps)
            used = cpu_seconds(pid) - before
    per_update, bare = used / (users * 3), await bare_turn_cpu()
    print(
        f"bot process CPU: {used:.2f}s, {per_update * 1000:.2f} ms per update "
        f"→ about {1 / per_update:.0f} updates/s on one saturated core"
    )
    print(
        f"bare redis.asyncio turn (bench.turns' loop, this run): {bare * 1e6:.0f} µs CPU; "
        f"an update costs {per_update / bare:.1f}x that"
    )


async def send_journeys(
    session: aiohttp.ClientSession,
    endpoint: str,
    fake: FakeTelegram,
    users: int,
    concurrency: int,
    taps: bool,
    latencies: list[float],
    first: int = 0,
) -> None:
    """Users `first`.. (`users` of them) each send their three updates, one after the other's
    answer; each answer's time into `latencies`."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        user = TelegramUser(None, fake, user_id=10_000 + index)  # type: ignore[arg-type]
        if taps:
            updates = [
                user.message_update("/start"),
                user.callback_update("menu:pledge"),
                user.callback_update("base:jinkui"),
            ]
        else:
            updates = [user.message_update(text) for text in ("/start", "1", "金匮")]
        async with gate:
            for sent, update in enumerate(updates, start=1):
                start = time.perf_counter()
                async with session.post(
                    endpoint, json=update, headers={SECRET_HEADER: SECRET}
                ) as response:
                    if response.status != 200:
                        raise RuntimeError(f"webhook answered {response.status}")
                    await fake.answered(response)  # as Telegram reads the answer
                await fake.wait_sent(user.user_id, sent)
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(one(i) for i in range(first, first + users)))


async def measure(
    session: aiohttp.ClientSession,
    endpoint: str,
    fake: FakeTelegram,
    users: int,
    concurrency: int,
    taps: bool,
) -> None:
    latencies: list[float] = []
    await send_journeys(session, endpoint, fake, 1, concurrency, taps, latencies, first=-1)
    latencies.clear()  # the warm-up's
    start = time.perf_counter()
    await send_journeys(session, endpoint, fake, users, concurrency, taps, latencies)
    elapsed = time.perf_counter() - start
    total = users * 3
    qs = statistics.quantiles(latencies, n=100)
    print(f"updates: {total} from {users} users, concurrency {concurrency}, {elapsed:.2f}s")
    print(f"throughput: {total / elapsed:.0f} updates/s end to end (bot in one process)")
    print(
        f"latency post → answer at the API: p50 {qs[49] * 1000:.1f} ms, p99 {qs[98] * 1000:.1f} ms"
    )
    print(f"Bot API calls: {len(fake.calls)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--taps",
        action="store_true",
        help="answer with button taps (callback queries) instead of text",
    )
    args = parser.parse_args()
    run_loop(run(args.users, args.concurrency, args.taps))


if __name__ == "__main__":
    main()
