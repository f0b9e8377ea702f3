"""Benchmark: web-chat visitors over HTTP against `serve` with 1 and then 2 processes.

    python -m bench.load [--visitors 300] [--concurrency 60]

Each visitor opens /chat (its signed cookie) and walks a whole pledge through POST /chat/api:
/pledge, the privacy notice, the age group, a base, a form, a number of trees, a name and the
confirmation (8 turns). Visitors come from distinct addresses (`X-Forwarded-For` with the bench
as the trusted proxy), so the per-address limit does not hold them back. Prints turns a second,
p50/p99 of a turn, errors, and the resident memory of each web process. On a 2-core machine the
load generator shares the cores with the bot and Redis: read the 1-to-2 step with that in mind.
Uses REDIS_URL when set, else an embedded server; its keys are deleted afterwards. Bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import aiohttp

from bench.common import bench_redis, bot_process
from bot.loop import run as run_loop

TURNS = (
    {"text": "/pledge"},
    {"choice": "privacy:agree"},
    {"choice": "age:adult"},
    {"choice": "base:jinkui"},
    {"choice": "form:afforestation"},
    {"text": "5"},
    {"text": "李四"},
    {"choice": "confirm"},
)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def rss_mb(pid: int) -> float:
    """A process's resident memory (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def web_processes(parent: int) -> list[int]:
    """The process itself, or under `--processes` its children (the ones that answer)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent:
                children.append(int(entry.name))
    return children or [parent]


async def visitor(
    base: str, number: int, latencies: list[float], errors: list[str], gate: asyncio.Semaphore
) -> None:
    headers = {
        "X-Forwarded-For": f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
    }
    async with gate:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, headers=headers) as session:
            async with session.get(f"{base}/chat") as page:
                await page.read()
            for body in TURNS:
                start = time.perf_counter()
                try:
                    async with session.post(f"{base}/chat/api", json=body) as answer:
                        await answer.read()
                        if answer.status != 200:
                            errors.append(str(answer.status))
                            return
                except aiohttp.ClientError as exc:
                    errors.append(type(exc).__name__)
                    return
                latencies.append(time.perf_counter() - start)


async def run(url: str, processes: int, visitors: int, concurrency: int) -> None:
    prefix = f"bench-load-{os.getpid()}-{processes}:"
    async with (
        aiohttp.ClientSession() as probe,
        bot_process(
            probe,
            "--processes",
            str(processes),
            REDIS_URL=url,
            REDIS_KEY_PREFIX=prefix,
            TRUSTED_PROXIES="127.0.0.1",
        ) as (base, pid),
    ):
        await asyncio.sleep(1.0 if processes > 1 else 0)  # every child up
        latencies: list[float] = []
        errors: list[str] = []
        gate = asyncio.Semaphore(concurrency)
        start = time.perf_counter()
        await asyncio.gather(*(visitor(base, n, latencies, errors, gate) for n in range(visitors)))
        elapsed = time.perf_counter() - start
        memory = [rss_mb(p) for p in web_processes(pid)]
    print(
        f"{processes} process{'es' if processes > 1 else ''}: {len(latencies)} turns in "
        f"{elapsed:.1f} s = {len(latencies) / elapsed:.0f} turns/s; p50 "
        f"{pct(latencies, 50) * 1000:.1f} ms, p99 {pct(latencies, 99) * 1000:.1f} ms; "
        f"errors {len(errors)} {sorted(set(errors))}; RSS per process "
        f"{', '.join(f'{m:.0f} MB' for m in memory)}"
    )


async def main(visitors: int, concurrency: int) -> None:
    with bench_redis() as url:
        cores = os.cpu_count()
        print(f"{visitors} visitors x {len(TURNS)} turns, {concurrency} at once; {cores} cores")
        for processes in (1, 2):
            await run(url, processes, visitors, concurrency)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=60)
    arguments = parser.parse_args()
    run_loop(main(arguments.visitors, arguments.concurrency))
