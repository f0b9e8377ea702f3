"""`python -m bot serve` as a real process: it starts on the embedded Redis with no credentials,
answers, and shuts down cleanly on SIGTERM (closing Redis and stopping the embedded server)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.embedded import SOCKET_NAME


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_SECRET")}
    env |= {"PORT": str(port), "BOT_DATA_DIR": str(tmp_path / "var")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = get(f"{base}/healthz")
                break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["redis"] == "up"
        status, body = get(f"{base}/chat")
        assert status == 200 and "/static/chat.js" in body.decode()
        assert get(f"{base}/static/chat.js")[0] == 200
        assert (tmp_path / "var" / SOCKET_NAME).exists()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/chat" in output
    assert not (tmp_path / "var" / SOCKET_NAME).exists()  # the embedded server stopped
