"""Benchmark: WeChat callbacks per second and passive reply time p50/p99, plain and safe mode,
with the bot alone in one process (`python -m bot serve`) and a fake WeChat API plus the load
generator in this one. Requests are signed (and encrypted) as WeChat does.

    python -m bench.wechat_callbacks [--users 300] [--concurrency 50] [--rounds 10] [--returning]

Each user sends "/start", "1" (pledge) and "金匮" (a base); the first message of a user also
costs one user/info call for the profile language (wechatpy's blocking client on a thread).
With --returning every user has written once before the measurement, as most people writing
to the account have: the figures are then those of followers the bot knows. The users go in
rounds, each followed by as many turns of bench.turns' bare loop in this process (the printed
multiple compares both under the same drift of a shared machine). Uses REDIS_URL when set,
else the bot's embedded server. Bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time

import aiohttp

from bench.common import bot_process
from bench.turns import alternate, print_cost, yardstick
from bot.loop import run as run_loop
from tests.fakes.wechat import AES_KEY, APP_ID, APP_SECRET, TOKEN, FakeWeChat, callback_request
from tests.kit.wechat import xml_of

_ids = itertools.count(1)
JOURNEY = ("/start", "1", "金匮")


def bot_settings(fake: FakeWeChat, safe: bool) -> dict[str, str]:
    """The bot's settings for a bench: the fake API, in plain or safe mode."""
    settings = {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_API_BASE_URL": fake.url,
    }
    return settings | ({"WECHAT_ENCODING_AES_KEY": AES_KEY} if safe else {})


async def run(users: int, concurrency: int, safe: bool, returning: bool, rounds: int) -> None:
    async with (
        FakeWeChat() as fake,
        aiohttp.ClientSession() as session,
        yardstick() as bare,
    ):
        async with bot_process(session, **bot_settings(fake, safe)) as (base, pid):
            endpoint = f"{base}/wechat"
            await send_all(session, endpoint, 1, concurrency, safe, JOURNEY, [], first=-1)
            if returning:  # each follower's first contact (their profile looked up) goes first
                await send_all(session, endpoint, users, concurrency, safe, ("/help",), [])
            latencies: list[float] = []

            async def send(share: int, first: int) -> None:
                await send_all(
                    session, endpoint, share, concurrency, safe, JOURNEY, latencies, first
                )

            used, wall = await alternate(send, pid, users, rounds, bare)
        callbacks = len(latencies)
        qs = statistics.quantiles(latencies, n=100)
        mode = "safe (AES)" if safe else "plain"
        print(
            f"{mode}: {callbacks} callbacks from {callbacks // 3} users, concurrency "
            f"{concurrency}: {callbacks / wall:.0f} callbacks/s, reply p50 {qs[49] * 1000:.1f} "
            f"ms, p99 {qs[98] * 1000:.1f} ms"
        )
        print_cost(used, callbacks, "callback", bare)


async def send_all(
    session: aiohttp.ClientSession,
    endpoint: str,
    users: int,
    concurrency: int,
    safe: bool,
    texts: tuple[str, ...],
    latencies: list[float],
    first: int = 0,
) -> None:
    """Users `first`.. (`users` of them) send `texts`, each reply's time into `latencies`."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            for text in texts:
                xml = xml_of(
                    "text",
                    openid=f"oBENCH{index}",
                    time=int(time.time()),
                    msgid=next(_ids),
                    content=text,
                )
                query, body = callback_request(xml, safe)
                start = time.perf_counter()
                async with session.post(endpoint, params=query, data=body.encode()) as response:
                    if response.status != 200:
                        raise RuntimeError(f"callback answered {response.status}")
                    await response.read()
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(one(i) for i in range(first, first + users)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--returning", action="store_true", help="users the bot knows (written once before)"
    )
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    for safe in (False, True):
        run_loop(run(args.users, args.concurrency, safe, args.returning, args.rounds))


if __name__ == "__main__":
    main()
