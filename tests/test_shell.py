"""The terminal channel, run as `python -m bot shell` in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis
from PIL import Image

from bot.handlers.shell import render
from bot.model import Button, Message

ROOT = Path(__file__).resolve().parent.parent


def run_shell(
    lines: list[str],
    data_dir: Path,
    redis_url: str | None,
    lang: str = "zh_CN.UTF-8",
    user: str = "tester",
) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "BOT_SECRET")}
    env |= {
        "BOT_DATA_DIR": str(data_dir),
        "LANG": lang,
        "USER": user,
        "LOGNAME": user,
        "REDIS_KEY_PREFIX": f"shelltest{data_dir.name}:",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    done = subprocess.run(
        [sys.executable, "-m", "bot", "shell"],
        input="\n".join(lines) + "\n",
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_choices_are_numbered() -> None:
    message = Message("问题", (Button("a", "甲"), Button("b", "乙")))
    assert render(message) == "问题\n[1] 甲\n[2] 乙"


def test_journey_in_the_terminal_prints_the_certificate_path(tmp_path: Path) -> None:
    out = run_shell(["1", "金匮", "捐资", "100", "张三丰", "1"], tmp_path, None)
    assert "[1] 🌳 我要尽责" in out and "证书姓名：张三丰" in out
    paths = [line for line in out.splitlines() if line.endswith(".png")]
    assert len(paths) == 1 and Path(paths[0]).is_absolute()
    with Image.open(paths[0]) as image:
        assert image.size == (1080, 1528)


def test_english_terminal_and_state_survive_a_restart(tmp_path: Path, redis_url: str) -> None:
    try:
        first = run_shell(["/pledge", "Jinkui", "adoption"], tmp_path, redis_url, "en_US.UTF-8")
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


def test_forget_deletes_the_saved_certificate(tmp_path: Path) -> None:
    out = run_shell(["1", "金匮", "捐资", "100", "张三丰", "1", "/forget", "1"], tmp_path, None)
    (path,) = [line for line in out.splitlines() if line.endswith(".png")]
    assert "已删除 1 条" in out
    assert not Path(path).exists() and list((tmp_path / "var" / "certificates").glob("*")) == []
