"""How a process of the bot runs: the event loop every command runs on (uvloop where it is
installed: less CPU on sockets, timers and tasks; else asyncio's own), and the garbage
collector of a long-running process once it has started. The README's benchmarks give the
figures."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
YOUNG_OBJECTS = 10_000  # new objects between two passes of the collector (Python's: 700)


def new_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop: uvloop's, or asyncio's where uvloop is missing (Windows)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # ended as Ctrl-C ends a command


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a loop from `new_loop`. SIGTERM and SIGHUP end it as Ctrl-C
    does: `main` is cancelled, so its clean-up runs (Redis closed, the embedded server left),
    and the process exits 128 + the signal's number (a command may set handlers of its own)."""
    ended: list[int] = []

    async def guarded() -> T:
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        for sig in ENDING_SIGNALS:
            loop.add_signal_handler(sig, _end, task, sig, ended)
        return await main

    with asyncio.Runner(loop_factory=new_loop) as runner:
        try:
            return runner.run(guarded())
        except asyncio.CancelledError:
            if not ended:
                raise
    raise SystemExit(128 + ended[0])


def _end(task: asyncio.Task[Any] | None, sig: int, ended: list[int]) -> None:
    ended.append(sig)
    if task is not None:
        task.cancel()


def settle() -> None:
    """Once a long-running process has started: what start-up built (modules, the catalogue,
    fonts, templates, the services) is taken out of the cyclic garbage collector's passes, and
    the collector passes over young objects every 10,000 new ones instead of 700. The turns in
    flight hold thousands of short-lived objects, so the default passed every few turns; the
    collector still finds every cycle made after start-up."""
    gc.collect()  # what start-up left as garbage is not kept for good
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS)  # the older generations keep their thresholds
