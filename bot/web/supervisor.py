"""`serve --processes N`: one listening socket, N web processes sharing it.

The parent binds HOST:PORT once and starts N children (`python -m bot serve`, each a fresh
interpreter) that inherit the socket (`BOT_LISTEN_FD`) and accept from it; the kernel hands
each new connection to one of them. All state is in Redis, so any child answers any request.
Only the first child long-polls Telegram (with a webhook, all of them take updates) and runs
the worker's loops (unless `--no-worker`). Metrics
are collected across the children (prometheus-client's multiprocess mode, in
BOT_DATA_DIR/metrics). SIGTERM or SIGINT to the parent stops every child gracefully; a child
that dies on its own is started again, unless it dies within seconds of starting (a broken
configuration), which stops them all.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from prometheus_client import multiprocess

from bot.config import Settings
from bot.web.banner import start_lines

log = logging.getLogger(__name__)

LISTEN_FD = "BOT_LISTEN_FD"  # set by the parent for its children: the socket to accept from
POLLER = "BOT_TELEGRAM_POLLER"  # "0" in children that must not long-poll Telegram
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own setting
BACKLOG = 1024
STEADY_S = 10.0  # a child that lived this long is restarted when it dies


@dataclass
class Child:
    """One web process: which one it is, and when it started."""

    index: int
    process: subprocess.Popen[bytes]
    started: float


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket every child accepts from."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Starts, restarts and stops the web processes."""

    def __init__(self, settings: Settings, processes: int, worker: bool = True) -> None:
        self.settings = settings
        self.processes = processes
        self.worker = worker  # the worker's loops run in the first child
        self.sock = listening_socket(settings.host, settings.port)
        self.metrics_dir = settings.data_dir / "metrics"
        self.children: dict[int, Child] = {}
        self.stopping = False

    def run(self) -> int:
        """Serve until told to stop; the exit status."""
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._stop)
        print("\n".join(start_lines(self.settings, self.worker, self.processes)), flush=True)
        for index in range(self.processes):
            self._start(index)
        status = 0
        while self.children:
            pid, status_word = os.wait()
            code = os.waitstatus_to_exitcode(status_word)  # negative: killed by that signal
            child = self.children.pop(pid, None)
            if child is None:
                continue
            multiprocess.mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
            if self.stopping:
                continue
            if time.monotonic() - child.started < STEADY_S:
                log.error("web process %d exited at once (status %d): stopping", pid, code)
                status = 1
                self._stop(signal.SIGTERM, None)
                continue
            log.warning("web process %d exited (status %d): starting another", pid, code)
            self._start(child.index)
        self.sock.close()
        return status

    def _start(self, index: int) -> None:
        env = dict(
            os.environ,
            **{
                LISTEN_FD: str(self.sock.fileno()),
                POLLER: "1" if index == 0 else "0",
                METRICS_DIR: str(self.metrics_dir.resolve()),
            },
        )
        works = self.worker and index == 0  # one worker whatever the number of processes
        command = [sys.executable, "-m", "bot", "serve", *(() if works else ("--no-worker",))]
        process = subprocess.Popen(  # noqa: S603 - this interpreter, our own command
            command,
            env=env,
            pass_fds=(self.sock.fileno(),),
            cwd=Path.cwd(),
        )
        self.children[process.pid] = Child(index, process, time.monotonic())

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Stop every child gracefully (they finish what they are answering)."""
        self.stopping = True
        for child in list(self.children.values()):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)


def inherited_socket() -> socket.socket | None:
    """The socket a parent handed this child, if any."""
    fd = os.environ.get(LISTEN_FD)
    return socket.socket(fileno=int(fd)) if fd and fd.isdigit() else None


def polls_telegram() -> bool:
    """Whether this process may long-poll Telegram (only one of several may)."""
    return os.environ.get(POLLER, "1") != "0"
