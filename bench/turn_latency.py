"""Benchmark: how long a citizen waits for each answer on Telegram, on an idle bot. The bot runs
as `python -m bot serve` with its default pacing (TELEGRAM_RATE_LIMIT, TELEGRAM_CHAT_RATE), by
webhook, against a fake Bot API on 127.0.0.1 in this process. Users come one after another and
tap through the pledge: /start, 🌳, the privacy notice, the age group, a base, a form, an
amount, the name, confirm, a quarter of a second apart (as fast as a person reads and taps;
faster, the account's own pace of 30 messages a second would show). A turn's time runs from
posting the update to the arrival of the message that carries the next question's keyboard.

    python -m bench.turn_latency [--users 10] [--think 0.25]

Uses REDIS_URL when set, else the bot's embedded server. Bounded: at most 60 s a turn.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter, defaultdict
from typing import Any

import aiohttp

from bench.common import bot_process
from bot.channels.telegram.inbound import SECRET_HEADER
from bot.loop import run as run_loop
from tests.fakes.telegram import FakeTelegram
from tests.kit.telegram import SECRET, TelegramUser

JOURNEY = (  # (what the user does, what they answer): a tap's callback data or a text
    ("/start", "text"),
    ("menu:pledge", "tap"),
    ("privacy:agree", "tap"),
    ("age:adult", "tap"),
    ("base:jinkui", "tap"),
    ("form:donation", "tap"),
    ("100", "text"),
    ("name:suggested", "tap"),
    ("confirm", "tap"),
)
TURN_LIMIT_S = 60.0


async def run(users: int, think: float) -> None:
    async with FakeTelegram() as fake, aiohttp.ClientSession() as session:
        settings = {
            "TELEGRAM_BOT_TOKEN": "1:latency",
            "TELEGRAM_API_BASE_URL": fake.url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        async with bot_process(session, **settings) as (base, _):
            times: dict[str, list[float]] = defaultdict(list)
            warm_up = defaultdict(list)
            await walk(session, f"{base}/telegram", fake, 90_000, warm_up, think)
            for index in range(users):
                await walk(session, f"{base}/telegram", fake, 100_000 + index, times, think)
    every = [t for turn in times.values() for t in turn]
    print(f"turns: {len(every)} ({users} users one after another, {think:.2f} s apart)")
    for step, _ in JOURNEY:
        got = sorted(times[step])
        print(
            f"  {step:<16} p50 {got[len(got) // 2] * 1000:7.1f} ms   max {got[-1] * 1000:7.1f} ms"
        )
    p99 = statistics.quantiles(every, n=100)[98]
    print(f"journey: p50 {statistics.median(every) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    calls = Counter(call.method for call in fake.calls)
    print(f"Bot API calls: {', '.join(f'{n} {method}' for method, n in calls.most_common())}")
    print(f"photos uploaded: {len(fake.uploads())}")


async def walk(
    session: aiohttp.ClientSession,
    endpoint: str,
    fake: FakeTelegram,
    user_id: int,
    times: dict[str, list[float]],
    think: float,
) -> None:
    """One user through the journey, each turn timed to its keyboard's arrival."""
    user = TelegramUser(None, fake, user_id=user_id)  # type: ignore[arg-type]
    for step, kind in JOURNEY:
        await asyncio.sleep(think)
        update = user.message_update(step) if kind == "text" else user.callback_update(step)
        seen = len(fake.calls)
        start = time.perf_counter()
        async with session.post(endpoint, json=update, headers={SECRET_HEADER: SECRET}) as got:
            if got.status != 200:
                raise RuntimeError(f"webhook answered {got.status}")
            await fake.answered(got)  # as Telegram reads the answer
        await keyboard_after(fake, user_id, seen)
        times[step].append(time.perf_counter() - start)


async def keyboard_after(fake: FakeTelegram, chat_id: int, seen: int) -> None:
    """Wait until a message with a keyboard went to the chat after the first `seen` calls."""
    deadline = time.perf_counter() + TURN_LIMIT_S
    while time.perf_counter() < deadline:
        if any(_keyboard_to(call.params, chat_id) for call in fake.calls[seen:]):
            return
        await asyncio.sleep(0.0005)
    raise RuntimeError(f"no keyboard for {chat_id} within {TURN_LIMIT_S:.0f} s")


def _keyboard_to(params: dict[str, Any], chat_id: int) -> bool:
    return str(params.get("chat_id")) == str(chat_id) and bool(params.get("reply_markup"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--think", type=float, default=0.25, help="seconds between turns")
    args = parser.parse_args()
    run_loop(run(args.users, args.think))


if __name__ == "__main__":
    main()
