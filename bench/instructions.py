"""Benchmark: machine instructions per turn of the engine and of the bare redis.asyncio loop,
on stock redis.asyncio and on the bot's own client (bench.turns's three parts), counted by
valgrind's callgrind, and their ratios. Instructions do not depend on what else a shared
machine is doing, so these ratios repeat to a fraction of a percent where the turns-per-second
ratios swing by a third; Redis's own work (another process) is not counted.

    python -m bench.instructions [--users 300]

Runs each part as its own process under valgrind (slow: about a minute each), after a process
that only starts up and warms up, whose count is taken off. Needs valgrind; uses REDIS_URL
when set, else the embedded server. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from bench.common import bench_redis
from bench.turns import SCRIPT, bare_loop, run_users, stock_client, warmed_runtime
from bot.loop import run as run_loop

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
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


if __name__ == "__main__":
    main()
