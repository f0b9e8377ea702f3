"""The embedded server's life with real `python -m bot serve` processes on one data directory:
it lives while any of them uses it, is adopted when its starter was killed, and stops with the
last one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py

from bot.ops.embedded import SOCKET_NAME, EmbeddedRedis
from tests.kit.servers import free_port, get


def servers_of(data_dir: Path) -> list[int]:
    """Pids of the Valkey processes serving this data directory (Valkey names its process
    after its socket)."""
    socket_path = f"unixsocket:{data_dir.resolve() / SOCKET_NAME}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(socket_path.encode() in word for word in command):
            found.append(int(entry.name))
    return found


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """`python -m bot serve` on the embedded server of `data_dir`, once it answers."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "REDIS_CLUSTER", "BOT_SECRET")
    }
    env |= {"PORT": str(port), "BOT_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=data_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if get(f"{base}/healthz")[0] == 200:
                return process, base
        except OSError:
            pass
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "serve did not come up"
        time.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors


def healthy(base: str) -> bool:
    status, body = get(f"{base}/healthz")
    return status == 200 and json.loads(body)["redis"] == "up"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "var"
    yield folder
    for pid in servers_of(folder):  # never leave a server behind, whatever failed
        os.kill(pid, signal.SIGKILL)


def test_the_server_outlives_its_starter_and_stops_with_the_last(data_dir: Path) -> None:
    first, _ = serve(data_dir)
    second, second_base = serve(data_dir)
    assert len(servers_of(data_dir)) == 1
    stop(first)  # the one that started the server
    assert healthy(second_base) and len(servers_of(data_dir)) == 1
    stop(second)
    assert servers_of(data_dir) == [] and not (data_dir / SOCKET_NAME).exists()


def test_a_server_orphaned_by_kill_9_is_adopted_and_stopped_at_the_end(data_dir: Path) -> None:
    first, _ = serve(data_dir)
    (orphan,) = servers_of(data_dir)
    first.kill()  # SIGKILL: no chance to leave
    first.communicate(timeout=30)
    assert servers_of(data_dir) == [orphan]
    again, base = serve(data_dir)
    assert healthy(base) and servers_of(data_dir) == [orphan]  # adopted, not doubled
    stop(again)
    assert servers_of(data_dir) == []


def test_a_killed_server_is_replaced(data_dir: Path) -> None:
    holder = EmbeddedRedis(data_dir)
    holder.start()
    (killed,) = servers_of(data_dir)
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while servers_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    process, base = serve(data_dir)  # another process still "uses" it; it answers nothing
    try:
        assert healthy(base) and len(servers_of(data_dir)) == 1
    finally:
        stop(process)
        holder.stop()
    assert servers_of(data_dir) == []


def wait_until_gone(data_dir: Path, within_s: float) -> float:
    """Seconds until no server serves `data_dir` (fails after `within_s`)."""
    start = time.monotonic()
    while servers_of(data_dir):
        assert time.monotonic() - start < within_s, "the embedded server outlived its users"
        time.sleep(0.2)
    return time.monotonic() - start


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGHUP])
def test_a_shell_ended_by_a_signal_leaves_and_takes_the_server_with_it(
    data_dir: Path, ending: signal.Signals
) -> None:
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER")}
    shell = subprocess.Popen(
        [sys.executable, "-m", "bot", "shell"],
        env=env | {"BOT_DATA_DIR": str(data_dir), "LANG": "en_US.UTF-8"},
        cwd=data_dir,
        stdin=subprocess.PIPE,  # left open: the shell waits for a line nobody types
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert shell.stdout is not None
    shell.stdout.readline()  # the welcome: the shell is up and reading
    assert len(servers_of(data_dir)) == 1
    shell.send_signal(ending)
    _, errors = shell.communicate(timeout=15)
    assert shell.returncode == 128 + ending, errors
    assert "Traceback" not in errors
    assert wait_until_gone(data_dir, 5) < 5  # left as the last user: shut down at once


def test_a_server_whose_last_user_was_killed_stops_by_itself_and_keeps_its_data(
    data_dir: Path,
) -> None:
    process, _ = serve(data_dir)
    client = redis_py.Redis(unix_socket_path=str(data_dir / SOCKET_NAME))
    client.set("kept", "after kill -9")
    client.close()
    process.kill()  # SIGKILL: nobody left to shut the server down but its watchdog
    process.communicate(timeout=30)
    assert servers_of(data_dir)
    assert wait_until_gone(data_dir, 15) < 15
    assert not (data_dir / SOCKET_NAME).exists()
    again = EmbeddedRedis(data_dir)
    again.start()
    try:
        client = redis_py.Redis(unix_socket_path=str(data_dir / SOCKET_NAME))
        assert client.get("kept") == b"after kill -9"
        client.close()
    finally:
        again.stop()
    assert servers_of(data_dir) == []
