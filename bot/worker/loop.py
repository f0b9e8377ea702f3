"""`python -m bot worker` (and the worker inside `serve`): the outbox, appeal delivery and the
daily schedules side by side, until stopped."""

from __future__ import annotations

import asyncio
import signal

from bot.channels.platforms import open_channels
from bot.runtime import Runtime
from bot.worker.appeals import AppealSender
from bot.worker.outbox import Worker
from bot.worker.schedules import backups


async def run_worker(runtime: Runtime) -> None:
    """Run the outbox worker, appeal delivery and the nightly backup until SIGTERM or SIGINT,
    sending through the configured channels (the WeChat Pay client is the caller's)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = runtime.settings
    async with (
        open_channels(runtime, settings) as notices,
        open_channels(runtime, settings, appeals=True) as appeals,
    ):
        sender = AppealSender(runtime.appeals, runtime.store.users, appeals.port)
        await asyncio.gather(
            Worker(runtime, notices.port).run(stop), sender.run(stop), backups(runtime, stop)
        )
