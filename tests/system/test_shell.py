"""The terminal channel, run as `python -m bot shell` in a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from PIL import Image

from bot.channels.shell import render
from bot.model import Button, Message
from tests.kit.servers import CLUSTER


def bot_env(data_dir: Path, redis_url: str | None, lang: str, user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_SECRET")}
    env |= {
        "BOT_DATA_DIR": str(data_dir),
        "LANG": lang,
        "USER": user,
        "LOGNAME": user,
        "REDIS_KEY_PREFIX": f"shelltest{data_dir.name}:",
        "DONATION_URL": "https://donate.example.org/wuxi",  # link-out: receipts fulfil
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def run_bot(
    args: list[str],
    data_dir: Path,
    redis_url: str | None,
    lang: str = "zh_CN.UTF-8",
    user: str = "tester",
    lines: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in a real process, typing `lines`."""
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "bot", *args],
        input="\n".join(lines or []) + "\n",
        env=bot_env(data_dir, redis_url, lang, user),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_shell(
    lines: list[str],
    data_dir: Path,
    redis_url: str | None,
    lang: str = "zh_CN.UTF-8",
    user: str = "tester",
) -> str:
    done = run_bot(["shell"], data_dir, redis_url, lang, user, lines)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def shared(tmp_path: Path, redis_url: str) -> Iterator[str]:
    """The test Redis, for processes started one after another; their keys removed after."""
    yield redis_url
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"shelltest{tmp_path.name}:*"):
        client.delete(key)
    client.close()


def run_worker_until_note(data_dir: Path, redis_url: str) -> None:
    """Run `python -m bot worker` until it has left the terminal user a note, then stop it."""
    client = (
        redis.RedisCluster.from_url(redis_url) if CLUSTER else redis.Redis.from_url(redis_url)
    )  # every node's keys
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"],
        env=bot_env(data_dir, redis_url, "zh_CN.UTF-8", "tester"),
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            deadline = time.monotonic() + 60
            pattern = f"shelltest{data_dir.name}:*:notes"
            while not list(client.scan_iter(match=pattern)):  # type: ignore[no-untyped-call]
                assert worker.poll() is None, worker.communicate()[1]
                assert time.monotonic() < deadline, "the worker left no note within a minute"
                time.sleep(0.2)
        finally:
            client.close()
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=30)
        assert worker.returncode == 0, errors


def test_choices_are_numbered() -> None:
    message = Message("问题", (Button("a", "甲"), Button("b", "乙")))
    assert render(message) == "问题\n[1] 甲\n[2] 乙"


def test_pledge_pay_by_receipt_then_the_certificate_path_and_forget(
    tmp_path: Path, shared: str
) -> None:
    out = run_shell(["1", "1", "3", "金匮", "捐资", "100", "张三丰", "1"], tmp_path, shared)
    assert "[1] 🌳 我要尽责" in out and "证书姓名：张三丰" in out
    assert "运营方" in out and "[1] ✅ 同意并继续" in out and "[3] 14–55 周岁" in out
    assert not [line for line in out.splitlines() if line.endswith(".png")]  # not paid yet
    reference = re.search(r"参考码：([0-9A-Z]{8})", out)
    assert reference is not None
    receipts = tmp_path / "回单.csv"  # as Chinese Excel saves it: GBK
    receipts.write_bytes(
        f"reference,amount_yuan,paid_at,receipt_no\n{reference.group(1)},100.00,2026-03-12 10:00,"
        "回单0001\n".encode("gbk")
    )
    first = run_bot(["payments", "import", str(receipts)], tmp_path, shared)
    assert first.returncode == 0 and "1 pledges fulfilled" in first.stdout, first.stderr
    again = run_bot(["payments", "import", str(receipts)], tmp_path, shared)
    assert "0 pledges fulfilled, 1 imported before" in again.stdout
    run_worker_until_note(tmp_path, shared)  # the certificate's notice, kept for the terminal
    out = run_shell(["/mine"], tmp_path, shared)
    assert "尽责承诺已完成" in out and "已完成 · 证书 WX20" in out
    (path,) = [line for line in out.splitlines() if line.endswith(".png")]
    assert Path(path).is_absolute()
    with Image.open(path) as image:
        assert image.size == (1080, 1528)
    out = run_shell(["/mine", "2"], tmp_path, shared)  # [2] 📤 分享：无锡经开区金匮公园
    (poster,) = [line for line in out.splitlines() if line.endswith("-poster.jpg")]
    with Image.open(poster) as image:
        assert image.size == (1080, 1920)
    out = run_shell(["/forget", "1"], tmp_path, shared)
    assert "已删除：1 条" in out
    assert not Path(path).exists() and list((tmp_path / "var" / "certificates").glob("*")) == []


def test_english_terminal_and_state_survive_a_restart(tmp_path: Path, redis_url: str) -> None:
    try:
        lines = ["/pledge", "I agree, continue", "14 to 55", "Jinkui", "adoption"]
        first = run_shell(lines, tmp_path, redis_url, "en_US.UTF-8")
        assert "How many trees" in first
        second = run_shell(["5", "Jane Doe"], tmp_path, redis_url, lang="en_US.UTF-8")
        assert "Welcome back" in second
        assert "Please confirm your pledge" in second and "Trees: 5" in second
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"shelltest{tmp_path.name}:*"):
            client.delete(key)
        client.close()


def test_bad_configuration_stops_with_a_clear_message(tmp_path: Path) -> None:
    env = dict(os.environ, PORT="eighty", BOT_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        input="",
        check=False,
    )
    assert done.returncode == 2 and "PORT must be a number" in done.stderr


def test_a_number_question_shows_what_to_type_not_numbers() -> None:
    message = Message(
        "请输入捐资金额",
        (Button("yuan:60", "60 元"), Button("nav:back", "⬅ 返回")),
        typed="回复数字，如 60 元；或回复 ⬅ 返回",
    )
    assert render(message) == "请输入捐资金额\n回复数字，如 60 元；或回复 ⬅ 返回"
