"""Benchmark: Telegram webhook updates per second end to end, the bot alone in one process
(`python -m bot serve`): HTTP in with the secret header, engine, Redis, HTTP out to a fake Bot
API on 127.0.0.1 that lives in this process, with the load generator. Latency runs from posting
an update to the fake API receiving the bot's answer.

    python -m bench.telegram_webhook [--users 300] [--concurrency 100] [--rounds 10] [--taps]

Each user sends /start, "1" (pledge) and "金匮" (a base): three messages, one sendMessage each.
With --taps the last two are button taps, which also cost answerCallbackQuery and
editMessageReplyMarkup. TELEGRAM_RATE_LIMIT is lifted for the measurement. The users go in
rounds, each followed by as many turns of bench.turns' bare loop in this process, so the
printed multiple compares both under the same drift of a shared machine. Uses REDIS_URL when
set, else the bot's embedded server. Bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from bench.common import bot_process
from bench.turns import alternate, print_cost, yardstick
from bot.channels.telegram.inbound import SECRET_HEADER
from bot.loop import run as run_loop
from tests.fakes.telegram import FakeTelegram
from tests.kit.telegram import SECRET, TelegramUser


def bot_settings(fake: FakeTelegram) -> dict[str, str]:
    """The bot's settings for a bench: the fake API, a webhook, no rate limits of its own."""
    return {
        "TELEGRAM_BOT_TOKEN": "1:bench",  # the fake API takes any token
        "TELEGRAM_API_BASE_URL": fake.url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_RATE_LIMIT": "1000000",
        "TELEGRAM_CHAT_RATE": "1000000",
    }


async def run(users: int, concurrency: int, taps: bool, rounds: int) -> None:
    async with (
        FakeTelegram() as fake,
        aiohttp.ClientSession() as session,
        yardstick() as bare,
    ):
        async with bot_process(session, **bot_settings(fake)) as (base, pid):
            endpoint = f"{base}/telegram"
            latencies: list[float] = []
            await send_journeys(session, endpoint, fake, 1, concurrency, taps, [], first=-1)

            async def send(share: int, first: int) -> None:
                await send_journeys(
                    session, endpoint, fake, share, concurrency, taps, latencies, first
                )

            used, wall = await alternate(send, pid, users, rounds, bare)
        updates = len(latencies)
        qs = statistics.quantiles(latencies, n=100)
        print(f"updates: {updates} from {updates // 3} users, concurrency {concurrency}")
        print(f"throughput: {updates / wall:.0f} updates/s end to end (bot in one process)")
        print(
            f"latency post → answer at the API: p50 {qs[49] * 1000:.1f} ms, "
            f"p99 {qs[98] * 1000:.1f} ms"
        )
        print(f"Bot API calls: {len(fake.calls)}")
        print_cost(used, updates, "update", bare)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument(
        "--taps",
        action="store_true",
        help="answer with button taps (callback queries) instead of text",
    )
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    run_loop(run(args.users, args.concurrency, args.taps, args.rounds))


if __name__ == "__main__":
    main()
