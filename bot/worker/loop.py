"""The worker's loops side by side until stopped: the outbox, appeal delivery and the daily
schedules. `serve` runs them inside one of its processes (`work`); `python -m bot worker` runs
them apart (`run_worker`), for deployments that start `serve --no-worker`."""

from __future__ import annotations

import asyncio
import signal

from bot.channels.platforms import open_channels
from bot.channels.port import Port
from bot.runtime import Runtime
from bot.worker.appeals import AppealSender
from bot.worker.outbox import Worker
from bot.worker.schedules import backups


async def work(runtime: Runtime, notices: Port, appeals: Port, stop: asyncio.Event) -> None:
    """The outbox through `notices`, appeals through `appeals` (paced for them) and the
    nightly backup, until `stop` is set."""
    sender = AppealSender(runtime.appeals, runtime.store.users, appeals)
    await asyncio.gather(
        Worker(runtime, notices).run(stop), sender.run(stop), backups(runtime, stop)
    )


async def run_worker(runtime: Runtime) -> None:
    """`python -m bot worker`: work until SIGTERM or SIGINT, sending through the configured
    channels (the WeChat Pay client is the caller's)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = runtime.settings
    async with (
        open_channels(runtime, settings) as notices,
        open_channels(runtime, settings, appeals=True) as appeals,
    ):
        await work(runtime, notices.port, appeals.port, stop)
