"""An S3-compatible server for tests: moto's server mode in a process of its own on 127.0.0.1
(no S3 server of its own comes from the package registries), spoken to over HTTP by the bot's
real S3 client, as the Telegram and WeChat fakes are."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from tests.kit.servers import free_port

KEYS = ("test-key-id", "test-secret-key")  # moto takes any
REGION = "us-east-1"


@contextlib.contextmanager
def s3_server(within_s: float = 30.0) -> Iterator[str]:
    """The server's endpoint while it runs; stopped at the end."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - the test environment's own moto, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + within_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
