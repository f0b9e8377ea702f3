"""One send budget for every process: two worker processes sending notices through one
Telegram account keep, together, to TELEGRAM_RATE_LIMIT (the account's limit, not each
process's)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.channels.pacing import ACCOUNT_BURST
from bot.model import UserKey
from bot.runtime import Runtime
from bot.store import Store
from bot.store.jobs import Notice
from tests.fakes.telegram import FakeTelegram
from tests.kit.paths import ROOT

RATE = 5  # messages a second for the whole account (Telegram's is about 30): slow enough that
# the first worker is still sending its batch when the second has started on a slow machine
FIRST = 30  # the first worker's batch: about 5 s of sending, for the second's start-up
NOTICES = 45


async def notify(store: Store, people: range) -> None:
    """One notice each (no chat gets two, so only the account's rate holds them)."""
    for i in people:
        user = UserKey.of("telegram", str(70_000 + i))
        await store.jobs.notify(Notice(user, "pledge.expired", {"reason": ""}))


async def wait_for(telegram: FakeTelegram, count: int) -> None:
    """Until `count` messages reached the fake (at most 30 s)."""
    for _ in range(600):
        if len(telegram.sent()) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(telegram.sent())} of {count} messages arrived")


async def test_two_worker_processes_keep_one_rate_together(
    runtime: Runtime, store: Store, redis_url: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as telegram:
        env = dict(
            os.environ,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=store.prefix,
            TELEGRAM_BOT_TOKEN="1:budget",  # noqa: S106 - the fake takes any
            TELEGRAM_API_BASE_URL=telegram.url,
            TELEGRAM_RATE_LIMIT=str(RATE),
            BOT_DATA_DIR=str(tmp_path),
            BOT_SECRET="k" * 32,
        )
        workers = []
        try:
            for batch in (range(FIRST), range(FIRST, NOTICES)):  # the first worker is busy
                await notify(store, batch)  # with its batch when the second gets the rest
                workers.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", "worker", cwd=ROOT, env=env
                    )
                )
                await wait_for(telegram, batch.start + 1)
            await wait_for(telegram, NOTICES)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            await asyncio.gather(*(w.wait() for w in workers))
    calls = telegram.sent()
    first = [c.at for c in calls if int(c.params["chat_id"]) < 70_000 + FIRST]
    second = [c.at for c in calls if int(c.params["chat_id"]) >= 70_000 + FIRST]
    assert min(second) < max(first)  # both processes were sending at the same time
    sent = sorted(c.at for c in telegram.sent())
    assert len(sent) == NOTICES
    span = sent[-1] - sent[0]
    assert span >= (NOTICES - ACCOUNT_BURST) / RATE - 0.1  # the pair kept to one rate
    for i, at in enumerate(sent):  # no second ever held more than the rate and a burst
        assert sum(1 for t in sent[i:] if t - at < 1.0) <= RATE + ACCOUNT_BURST
