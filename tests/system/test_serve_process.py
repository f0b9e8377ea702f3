"""`python -m bot serve` as a real process: it starts on the embedded Redis with no credentials,
answers, and shuts down cleanly on SIGTERM (closing Redis and stopping the embedded server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import redis
from yarl import URL

from bot.config import load_settings
from bot.model import UserKey
from bot.ops.embedded import SOCKET_NAME
from bot.store import Store, connect
from bot.store.jobs import Notice
from bot.web.banner import start_lines
from bot.web.supervisor import STEADY_S
from tests.kit.servers import get, serving


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "REDIS_CLUSTER", "BOT_SECRET")
    }
    env |= {"PORT": str(port), "BOT_DATA_DIR": str(tmp_path / "var")}
    with serving(env, tmp_path) as (process, base):
        status, body = get(f"{base}/healthz")
        assert status == 200 and json.loads(body)["redis"] == "up"
        status, body = get(f"{base}/chat")
        assert status == 200 and "/static/chat.js" in body.decode()
        assert get(f"{base}/static/chat.js")[0] == 200
        assert (tmp_path / "var" / SOCKET_NAME).exists()
        assert "uvloop" in Path(f"/proc/{process.pid}/maps").read_text()  # its event loop
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/chat" in output
    assert f"Console:  http://127.0.0.1:{port}/admin" in output and "admins add" in output
    assert "Worker:   running inside serve" in output
    assert "Payments: DEMO: the pay page's one button" in output  # nothing configured, loopback
    assert not (tmp_path / "var" / SOCKET_NAME).exists()  # the embedded server stopped


async def test_serve_alone_is_the_whole_system(tmp_path: Path) -> None:
    """The README's first command alone delivers what services queue: a notice queued for a
    web visitor (a claim decided, a certificate issued) reaches them as a note, with no
    `python -m bot worker` anywhere; `--no-worker` says it leaves that to one."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER")}
    env |= {"PORT": str(port), "BOT_DATA_DIR": str(tmp_path / "var")}
    with serving(env, tmp_path) as (process, _):
        url = f"unix://{tmp_path / 'var' / SOCKET_NAME}"
        store = Store(connect(url), "tp:", url)
        try:
            user = UserKey("web:visitor1")
            await store.jobs.notify(Notice(user, "claim.rejected", {"reason": "照片太暗"}))
            for _ in range(150):  # the worker's round blocks up to a second
                if await store.redis.exists(store.keys.notes(user)):
                    break
                await asyncio.sleep(0.1)
            assert await store.redis.exists(store.keys.notes(user)), "nothing delivered"
        finally:
            await store.close()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    (apart,) = [w for w in start_lines(load_settings({}, None), False) if w.startswith("Worker")]
    assert "--no-worker" in apart and "python -m bot worker" in apart


def serve_two(
    tmp_path: Path, redis_url: str, port: int, name: str
) -> tuple[subprocess.Popen[str], str]:
    """`serve --processes 2` on `port` over keys of its own: the process (output piped) and
    the key prefix."""
    env = dict(os.environ, PORT=str(port), BOT_DATA_DIR=str(tmp_path / "var"))
    prefix = f"{name}{tmp_path.name[-6:]}:"
    env |= {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix, "BOT_SECRET": "s" * 32}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--processes", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, prefix


async def test_two_processes_on_one_port_share_a_journey(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    parent, prefix = serve_two(tmp_path, redis_url, port, "twoproc")
    base = f"http://127.0.0.1:{port}"
    sessions: dict[str, aiohttp.ClientSession] = {}
    spare: list[aiohttp.ClientSession] = []
    try:
        deadline = time.monotonic() + 60
        while len(sessions) < 2:  # a connection stays with the process that accepted it
            assert time.monotonic() < deadline, "two processes did not both answer"
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1),
                cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1
            )
            try:
                process = (await (await session.get(f"{base}/healthz")).json())["process"]
            except aiohttp.ClientError:
                assert parent.poll() is None, parent.communicate()[0]
                await session.close()
                await asyncio.sleep(0.2)
                continue
            if process in sessions:
                spare.append(session)  # another connection to a process we have
            else:
                sessions[process] = session
        (a, first), (b, second) = sessions.items()
        await first.get(f"{base}/chat")  # the visitor's cookie, given by one process
        second.cookie_jar.update_cookies(first.cookie_jar.filter_cookies(URL(base)))
        turns = [
            {"text": "/pledge"},
            {"choice": "privacy:agree"},
            {"choice": "age:adult"},
            {"choice": "base:jinkui"},
            {"choice": "form:adoption"},
            {"text": "3"},
            {"text": "李四"},
            {"choice": "confirm"},
        ]
        served = []
        for number, body in enumerate(turns):
            session = first if number % 2 == 0 else second  # alternating processes
            answer = await session.post(f"{base}/chat/api", json=body)
            assert answer.status == 200, await answer.text()
            messages = (await answer.json())["messages"]
            served.append((await (await session.get(f"{base}/healthz")).json())["process"])
        assert served == [a, b] * 4
        assert "已记录您的尽责承诺" in messages[0]["text"]
        metrics = await (await first.get(f"{base}/metrics")).text()
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('bot_turns_total{channel="web"')
        )
        assert total == len(turns)  # counted across both processes
        assert len(workers_among(children_of(parent.pid))) == 1  # one worker of the two
        parent.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(parent.communicate, timeout=60)
    finally:
        for session in [*sessions.values(), *spare]:
            await session.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        cleanup = redis.Redis.from_url(redis_url)
        for key in cleanup.scan_iter(match=f"{prefix}*"):
            cleanup.delete(key)
        cleanup.close()
    assert parent.returncode == 0, output
    assert "(2 processes)" in output


def test_a_bad_number_of_processes_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--processes", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "at least 1" in done.stderr


def workers_among(children: set[int]) -> list[int]:
    """The processes among `children` that run the worker's loops (not `--no-worker`)."""
    return [c for c in children if b"--no-worker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def children_of(parent: int) -> set[int]:
    """The processes whose parent is `parent` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def test_a_web_process_that_dies_after_running_a_while_is_replaced(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    parent, _ = serve_two(tmp_path, redis_url, port, "restart")
    try:
        deadline = time.monotonic() + 60
        while (
            len(children_of(parent.pid)) < 2 or get(f"http://127.0.0.1:{port}/healthz")[0] != 200
        ):
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        first = children_of(parent.pid)
        time.sleep(STEADY_S + 1)  # past the start-up grace: a death now is a crash to recover
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(children_of(parent.pid) - {victim}) < 2:
            assert parent.poll() is None, parent.communicate()[0]
            assert time.monotonic() < deadline, "no new web process"
            time.sleep(0.2)
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        parent.send_signal(signal.SIGTERM)
        output, _ = parent.communicate(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert parent.returncode == 0, output
    assert f"web process {victim} exited (status -9): starting another" in output


def test_serve_says_it_loudly(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "REDIS_CLUSTER", "BOT_SECRET")
    }
    env |= {
        "WECHAT_TOKEN": "t",
        "BOT_DATA_DIR": str(tmp_path),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}",  # nothing there: serve stops soon
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "*** WARNING: PUBLIC_BASE_URL is http://127.0.0.1:8080" in done.stderr
    assert done.returncode == 2 and "Redis failed" in done.stderr


def test_a_serve_process_with_log_format_json_writes_json_lines(
    tmp_path: Path, redis_url: str, cli_env: dict[str, str]
) -> None:
    port = free_port()
    env = cli_env | {"PORT": str(port), "LOG_FORMAT": "json", "ALLOW_VOLATILE_REDIS": "1"}
    with serving(env, tmp_path, stderr=subprocess.PIPE) as (process, base):
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"{base}/pay/wechat/notify",
            data=b"{}",
            headers={"X-Request-Id": "from-the-proxy-0001"},
        )
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback only
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(
        line["request_id"] == "from-the-proxy-0001" and "refused" in line["message"]
        for line in logged
    ), err
    assert not [line for line in err.splitlines() if " INFO " in line]  # no plain lines
