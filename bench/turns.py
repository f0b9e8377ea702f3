"""Benchmark: engine turns per second through the pledge flow, latency, Redis round trips per
turn; beside it, in the same run, a bare redis.asyncio loop doing the same four steps per turn
(lock, check the message id and load; save, mark it seen and unlock: the engine's two scripts)
with the ratio between them, the parts taking turns in rounds; and certificate render+encode
time and size, PNG and JPEG.

The bare loop runs twice: on redis.asyncio as `from_url` makes it (its defaults: the fixed
yardstick the ratio target is set against), and on the bot's own client (hiredis packing, the
prompt pool), which gets cheaper with every gain in the client, so that ratio falls as the bot
gets faster.

    python -m bench.turns [--users 400] [--concurrency 50] [--rounds 10]

Uses REDIS_URL when set, else the embedded server in a temporary directory. Prints figures;
asserts nothing. Bounded: it stops after the given number of users.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection

from bench.common import bench_redis, cpu_seconds
from bot.catalog import load_catalog
from bot.config import Settings
from bot.engine import Engine
from bot.loop import run as run_loop
from bot.loop import settle
from bot.model import Turn
from bot.render.certificate import CertificateRenderer
from bot.render.poster import PosterRenderer
from bot.runtime import Runtime, build_runtime
from bot.services.certificates import card_of, poster_of
from bot.services.pledges import Pledge
from bot.store import Store, connect
from bot.store.connections import LeanConnection
from bot.store.turns import _BEGIN, _END


@contextlib.contextmanager
def counting_round_trips() -> Iterator[Counter[str]]:
    """Counts each write of a command or a pipeline (one round trip) while open, on redis-py's
    connections and the bot's lean ones alike (the count's wrapper is not left in the way of
    the timed parts)."""
    counts: Counter[str] = Counter()
    kinds = (AbstractConnection, LeanConnection)
    sends = [kind.send_packed_command for kind in kinds]

    def counting(send: Any) -> Any:
        async def counted(
            self: AbstractConnection, command: Any, check_health: bool = True
        ) -> None:
            counts["n"] += 1
            await send(self, command, check_health)

        return counted

    for kind, send in zip(kinds, sends, strict=True):
        kind.send_packed_command = counting(send)  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        for kind, send in zip(kinds, sends, strict=True):
            kind.send_packed_command = send  # type: ignore[method-assign]


JOURNEY_MESSAGES = 3  # a channel bench's journey: three messages, each one turn
SCRIPT = [  # (kind, text or choice id): an ordinary turn, and the confirming turn apart
    ("say", "/pledge"),
    ("tap", "privacy:agree"),
    ("tap", "age:adult"),
    ("tap", "base:jinkui"),
    ("tap", "form:donation"),
    ("say", "100"),
    ("say", "张三"),
    ("tap", "confirm"),
]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def script_turn(user: str, step: int) -> tuple[str, Turn]:
    """The turn of `user` at `step` of the script, and whether it is ordinary or the confirm."""
    kind, value = SCRIPT[step]
    turn = Turn(
        "bench",
        user,
        message_id=f"{user}-{step}",
        text=value if kind == "say" else "",
        choice_id=value if kind == "tap" else None,
    )
    return ("confirm" if value == "confirm" else "ordinary"), turn


async def run_user(engine: Engine, user: int, latencies: dict[str, list[float]]) -> None:
    for step in range(len(SCRIPT)):
        label, turn = script_turn(f"u{user}", step)
        start = time.perf_counter()
        await engine.handle(turn)
        latencies[label].append(time.perf_counter() - start)


DONATION_URL = "https://donate.example.org/wuxi"


async def warmed_runtime(url: str) -> Runtime:
    """A runtime on a key prefix of its own, its scripts and connections warmed up by one
    user's journey, the collector settled as in a serving process."""
    store = Store(connect(url), prefix=f"bench:{uuid.uuid4().hex[:8]}:")
    # the deployed path: donations link out (with nothing configured, a loopback machine
    # would take the demo pay page, an order per pledge)
    settings = Settings(redis_url=url, bot_secret="b" * 32, donation_url=DONATION_URL)
    runtime = await build_runtime(settings, store, load_catalog())
    await run_user(runtime.engine, -1, {"ordinary": [], "confirm": []})
    settle()
    return runtime


async def run_users(
    engine: Engine,
    users: int,
    concurrency: int,
    latencies: dict[str, list[float]],
    first: int = 0,
) -> None:
    """`users` journeys through the script (users `first`, `first` + 1...), `concurrency` of
    them at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(user: int) -> None:
        async with gate:
            await run_user(engine, user, latencies)

    await asyncio.gather(*(one(u) for u in range(first, first + users)))


class Clock:
    """Wall and process CPU seconds spent inside `with` blocks, added up."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter(), time.process_time()

    def __exit__(self, *_: object) -> None:
        wall, cpu = self._started
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu


async def bench_turns(url: str, users: int, concurrency: int, rounds: int) -> None:
    """The engine and the two bare loops take turns, `rounds` times, each with its share of the
    users: a shared machine's speed drifts within a run, and all parts see the same drift."""
    runtime = await warmed_runtime(url)
    store = runtime.store
    stock_redis = stock_client(url)
    latencies: dict[str, list[float]] = {"ordinary": [], "confirm": []}
    engine, stock, own = Clock(), Clock(), Clock()
    rounds = max(1, min(rounds, users))
    share = users // rounds
    for first in range(0, share * rounds, share):
        with engine:
            await run_users(runtime.engine, share, concurrency, latencies, first)
        with stock:
            await bare_loop(store, share, concurrency, first, stock_redis)
        with own:
            await bare_loop(store, share, concurrency, first)
    turns = share * rounds * len(SCRIPT)
    ordinary = latencies["ordinary"]
    print(f"turns: {turns} by {share * rounds} users, concurrency {concurrency}, {rounds} rounds")
    print(f"throughput: {turns / engine.wall:.0f} turns/s (one process), {engine.wall:.2f}s")
    print(f"bench process CPU: {engine.cpu / turns * 1e6:.0f} µs per turn")
    print(
        f"ordinary turn latency: p50 {pct(ordinary, 50) * 1000:.2f} ms, "
        f"p99 {pct(ordinary, 99) * 1000:.2f} ms"
    )
    print(f"confirm turn latency: p50 {pct(latencies['confirm'], 50) * 1000:.2f} ms")
    await measure_round_trips(runtime.engine)
    print("bare loops, same steps, rounds alternating with the engine's:")
    for name, clock in (("stock redis.asyncio", stock), ("the bot's own client", own)):
        print(
            f"  on {name}: {turns / clock.wall:.0f} turns/s, {clock.cpu / turns * 1e6:.0f} µs "
            f"CPU per turn; engine/bare ratio {clock.wall / engine.wall:.2f} (by CPU per turn "
            f"{clock.cpu / engine.cpu:.2f})"
        )
    await stock_redis.aclose()
    await store.delete_prefix()
    await store.close()


def stock_client(url: str) -> redis.Redis:
    """redis.asyncio as anyone would start it: `from_url` with its defaults (hiredis parses,
    as it does whenever hiredis is installed), answers decoded as the bot's are."""
    return redis.Redis.from_url(url, decode_responses=True)


async def bare_loop(
    store: Store, users: int, concurrency: int, first: int = 0, client: redis.Redis | None = None
) -> None:
    """A loop that only runs the engine's two turn scripts (lock, dedup and load; save, mark
    and unlock) on redis.asyncio for `users` users' scripts, at the same concurrency: the floor
    of a turn's cost in Redis and the client. On the store's client, or on `client` (with
    users of its own, under the store's keys)."""
    client = client or store.redis
    begin = client.register_script(_BEGIN)
    end = client.register_script(_END)
    session = json.dumps({"flow": "pledge", "step": "ask_base", "history": [], "data": {}})
    gate = asyncio.Semaphore(concurrency)
    who = "bare" if client is store.redis else "stock"

    async def one(user: int) -> None:
        async with gate:
            for step in range(len(SCRIPT)):
                name, message = f"{who}{user}", f"{who}{user}-{step}"
                turn_keys = store.turns.turn_keys(name, message)
                await begin(turn_keys, ["token", 15_000])
                await end(turn_keys, ["token", session, 3600, 3600, 0])

    await asyncio.gather(*(one(u) for u in range(first, first + users)))


class Yardstick:
    """The bare loop on stock redis.asyncio, on a Redis of its own, warmed up: the CPU seconds
    its turns take, measured when asked, so that a bench can take its rounds alternately with
    the bare loop's and both see the same drift of a shared machine."""

    def __init__(self, store: Store, client: redis.Redis, concurrency: int) -> None:
        self.store, self.client, self.concurrency = store, client, concurrency
        self.clock = Clock()
        self.turns = 0
        self._users = 0

    async def run(self, turns: int) -> None:
        """About `turns` more turns of the bare loop (whole users' scripts), timed."""
        users = max(1, turns // len(SCRIPT))
        gc.collect()  # the bench's own objects (its calls, latencies) out of the collector's
        gc.freeze()  # way, as a serving process keeps its start-up's (bot.loop.settle)
        with self.clock:
            await bare_loop(self.store, users, self.concurrency, self._users, self.client)
        self._users += users
        self.turns += users * len(SCRIPT)

    @property
    def cpu_per_turn(self) -> float:
        """CPU seconds per turn over every round run so far."""
        return self.clock.cpu / max(1, self.turns)


@contextlib.asynccontextmanager
async def yardstick(concurrency: int = 50) -> AsyncIterator[Yardstick]:
    """A warmed-up bare loop on stock redis.asyncio and a Redis of its own, for a bench's
    rounds; its keys are deleted afterwards."""
    with bench_redis() as url:
        store = Store(connect(url), prefix=f"bench-{uuid.uuid4().hex[:8]}:")
        stock = stock_client(url)
        try:
            await bare_loop(store, concurrency, concurrency, -concurrency, stock)  # warm up
            yield Yardstick(store, stock, concurrency)
        finally:
            await stock.aclose()
            await store.delete_prefix()
            await store.close()


async def alternate(
    send: Callable[[int, int], Awaitable[None]],
    pid: int,
    users: int,
    rounds: int,
    bare: Yardstick,
) -> tuple[float, float]:
    """A channel bench's journeys in `rounds` rounds (`send(users, first)` walks that many
    users' three-message journeys), each round followed by as many turns of the bare loop:
    the bot process's CPU seconds and the wall seconds of the journeys."""
    share = max(1, users // max(1, rounds))
    used = wall = 0.0
    for first in range(0, share * max(1, rounds), share):
        cpu, start = cpu_seconds(pid), time.perf_counter()
        await send(share, first)
        wall += time.perf_counter() - start
        used += cpu_seconds(pid) - cpu
        await bare.run(share * JOURNEY_MESSAGES)
    return used, wall


def print_cost(used: float, updates: int, what: str, bare: Yardstick) -> None:
    """The bot's CPU per update, and as a multiple of the bare loop's turn."""
    per = used / updates
    print(
        f"bot process CPU: {used:.2f}s, {per * 1000:.2f} ms per {what} "
        f"→ about {1 / per:.0f} {what}s/s on one saturated core"
    )
    print(
        f"bare redis.asyncio turn (bench.turns' loop, rounds alternating with the bench's): "
        f"{bare.cpu_per_turn * 1e6:.0f} µs CPU; one {what} costs "
        f"{per / bare.cpu_per_turn:.1f}x that"
    )


async def measure_round_trips(engine: Engine) -> None:
    counts: dict[str, list[int]] = {"ordinary": [], "confirm": []}
    with counting_round_trips() as round_trips:
        for step in range(len(SCRIPT)):
            label, turn = script_turn("rt", step)
            round_trips.clear()
            await engine.handle(turn)
            counts[label].append(round_trips["n"])
    print(
        f"Redis round trips per ordinary turn: {counts['ordinary']} "
        f"(confirm turn: {counts['confirm'][0]})"
    )


def bench_certificate(samples: int) -> None:
    """Render+encode times of the certificate (PNG, JPEG) and the share poster (JPEG)."""
    renderer, posters, catalog = CertificateRenderer(), PosterRenderer(), load_catalog()
    times: dict[str, list[float]] = {"png": [], "jpeg": [], "poster": []}
    sizes: dict[str, list[int]] = {"png": [], "jpeg": [], "poster": []}
    for i in range(samples):
        pledge = Pledge(
            id=f"{i:010d}",
            user_key="bench:1",
            base="jinkui",
            form="donation",
            trees=5,
            amount_yuan=100,
            name=f"张三{i}",
            locale="zh" if i % 2 else "en",
            created="2026-03-12T02:00:00+00:00",
            status="fulfilled",
            serial=f"WX2026-{i:010d}-ABCDEF",
        )
        for kind in ("png", "jpeg"):
            start = time.perf_counter()
            card = card_of(pledge, catalog, "https://trees.example.org")
            sizes[kind].append(len(renderer.render(card, kind)))
            times[kind].append(time.perf_counter() - start)
        start = time.perf_counter()
        poster = poster_of(pledge, catalog, "https://trees.example.org")
        sizes["poster"].append(len(posters.render(poster)))
        times["poster"].append(time.perf_counter() - start)
    for kind in ("png", "jpeg", "poster"):
        taken = times[kind][1:]  # the first builds the cached background and fonts
        what = "share poster, JPEG" if kind == "poster" else f"certificate, {kind.upper()}"
        print(
            f"{what} render+encode: p50 {pct(taken, 50) * 1000:.1f} ms, "
            f"p99 {pct(taken, 99) * 1000:.1f} ms, {statistics.median(sizes[kind]) / 1024:.0f} KB "
            f"(median of {samples})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--certificates", type=int, default=40)
    args = parser.parse_args()
    with bench_redis() as url:
        print(f"Redis: {url}")
        await bench_turns(url, args.users, args.concurrency, args.rounds)
    bench_certificate(args.certificates)


if __name__ == "__main__":
    run_loop(main())
