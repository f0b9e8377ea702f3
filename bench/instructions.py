"""Benchmark: machine instructions per turn of the engine and of the bare redis.asyncio loop,
on stock redis.asyncio and on the bot's own client (bench.turns's three parts), counted by
valgrind's callgrind, and their ratios. Instructions do not depend on what else a shared
machine is doing, so these ratios repeat to a fraction of a percent where the turns-per-second
ratios swing by a third; Redis's own work (another process) is not counted.

    python -m bench.instructions [--users 300]

With --channels, also a `python -m bot serve` process under callgrind, its count switched on
only while users walk the channel benches' journeys (bench.telegram_webhook's typed text;
bench.wechat_callbacks --returning's, plain and safe mode): instructions per update or
callback, and their multiple of the stock bare loop's turn (the channels' targets, read by
instructions: the kernel's share of each request is left out).

Runs each part as its own process under valgrind (slow: about a minute each), after a process
that only starts up and warms up, whose count is taken off. Needs valgrind; uses REDIS_URL
when set, else the embedded server. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from bench.common import bench_redis, bot_process
from bench.telegram_webhook import bot_settings as telegram_settings
from bench.telegram_webhook import send_journeys
from bench.turns import SCRIPT, bare_loop, run_users, stock_client, warmed_runtime
from bench.wechat_callbacks import JOURNEY, send_all
from bench.wechat_callbacks import bot_settings as wechat_settings
from bot.loop import run as run_loop
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wechat import FakeWeChat

PARTS = ("start", "engine", "stock", "bare")
_COLLECTED = re.compile(r"Collected : (\d+)")


async def run_part(url: str, part: str, users: int, concurrency: int) -> None:
    """Start up and warm up (one user's journey), then run one part for `users` users."""
    runtime = await warmed_runtime(url)
    if part == "engine":
        await run_users(runtime.engine, users, concurrency, {"ordinary": [], "confirm": []})
    elif part == "bare":
        await bare_loop(runtime.store, users, concurrency)
    elif part == "stock":
        stock = stock_client(url)
        await bare_loop(runtime.store, users, concurrency, client=stock)
        await stock.aclose()
    await runtime.store.delete_prefix()
    await runtime.store.close()


def count(url: str, part: str, users: int, concurrency: int) -> int:
    """Instructions the process running `part` executed."""
    command = [
        *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
        *(sys.executable, "-m", "bench.instructions", "--part", part, "--url", url),
        *("--users", str(users), "--concurrency", str(concurrency)),
    ]
    done = subprocess.run(  # noqa: S603 - valgrind running this interpreter on our module
        command, capture_output=True, text=True, check=True
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


CHANNELS = ("telegram", "wechat plain", "wechat safe")
CHANNEL_USERS = 150


def count_channel(channel: str, users: int) -> float:
    """Instructions per update of `serve` on `channel`, counted while `users` users (returning
    ones on WeChat) walk the bench's three-message journey."""
    folder = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    wrapper = (
        *("valgrind", "-q", "--tool=callgrind", "--instr-atstart=no"),
        f"--callgrind-out-file={folder}/out.%p",
    )
    try:
        if channel == "telegram":
            run_loop(_telegram_journeys(wrapper, users))
        else:
            run_loop(_wechat_journeys(wrapper, users, safe=channel.endswith("safe")))
        dumped = next(folder.glob("out.*.1"))  # the dump taken at the end of the journeys
        summary = next(line for line in dumped.open() if line.startswith("summary:"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return int(summary.split()[1]) / (users * 3)


async def _control(pid: int, *what: str) -> None:
    """callgrind_control on the process: switch counting on (-i on), or dump the count (-d)."""
    control = await asyncio.create_subprocess_exec(
        "callgrind_control", *what, str(pid), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if await control.wait() != 0:
        raise RuntimeError(f"callgrind_control {' '.join(what)} failed")


async def _telegram_journeys(wrapper: Sequence[str], users: int) -> None:
    async with FakeTelegram() as fake, aiohttp.ClientSession() as session:
        settings = telegram_settings(fake)
        async with bot_process(session, wrapper=wrapper, **settings) as (base, pid):
            endpoint = f"{base}/telegram"
            await send_journeys(session, endpoint, fake, 5, 5, False, [], first=-10)  # warm up
            await _control(pid, "-i", "on")
            await send_journeys(session, endpoint, fake, users, 20, False, [])
            await _control(pid, "-d")


async def _wechat_journeys(wrapper: Sequence[str], users: int, safe: bool) -> None:
    async with FakeWeChat() as fake, aiohttp.ClientSession() as session:
        settings = wechat_settings(fake, safe)
        async with bot_process(session, wrapper=wrapper, **settings) as (base, pid):
            endpoint = f"{base}/wechat"
            await send_all(session, endpoint, 5, 5, safe, JOURNEY, [], first=-10)  # warm up
            await send_all(session, endpoint, users, 20, safe, ("/help",), [])  # known to us
            await _control(pid, "-i", "on")
            await send_all(session, endpoint, users, 20, safe, JOURNEY, [])
            await _control(pid, "-d")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--channels", action="store_true", help="also count a serve process's channel updates"
    )
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        run_loop(run_part(args.url, args.part, args.users, args.concurrency))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench.instructions needs valgrind (Debian: apt-get install valgrind)")
    turns = args.users * len(SCRIPT)
    with bench_redis() as url:
        print(f"Redis: {url}; {turns} turns by {args.users} users, concurrency {args.concurrency}")
        start, *parts = (count(url, p, args.users, args.concurrency) for p in PARTS)
    engine, stock, bare = ((part - start) / turns for part in parts)
    print(f"engine: {engine / 1e6:.3f} M instructions per turn")
    for name, floor in (("stock redis.asyncio", stock), ("the bot's own client", bare)):
        print(
            f"bare loop on {name}, same steps: {floor / 1e6:.3f} M instructions per turn; "
            f"engine/bare ratio by instructions {floor / engine:.3f}"
        )
    for channel in CHANNELS if args.channels else ():
        per_update = count_channel(channel, CHANNEL_USERS)
        print(
            f"{channel}: {per_update / 1e6:.3f} M instructions per update, "
            f"{per_update / stock:.1f}x the bare loop's turn on stock redis.asyncio"
        )


if __name__ == "__main__":
    main()
