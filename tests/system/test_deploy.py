"""The files in deploy/ work as written: the Redis settings start a real server the bot judges
fit to keep records; Debian's nginx with the site (only ports, certificate, log and include
paths moved for a test) serves the bot over TLS and `doctor` passes every public path through
it; the systemd units and the logrotate file pass the system's own checkers."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as redis
from aiohttp import web

from bot.catalog import load_catalog
from bot.config import Settings
from bot.ops import doctor
from bot.ops.findings import Level
from bot.runtime import build_runtime
from bot.store import Store
from bot.store.durability import judge
from bot.web.app import create_app
from tests.conftest import SECRET
from tests.fakes.wechat import TOKEN, sign
from tests.kit.debian import install_missing
from tests.kit.paths import ROOT
from tests.kit.servers import free_port, valkey
from tests.system.test_doctor import NAME, Pinned, certificate

DEPLOY = ROOT / "deploy"
NGINX = Path("/usr/sbin/nginx")


def password() -> str:
    found = re.search(r"^requirepass (\S+)", (DEPLOY / "redis.conf").read_text(), re.M)
    assert found is not None
    return found.group(1)


async def test_the_redis_settings_keep_records(tmp_path: Path) -> None:
    config = DEPLOY / "redis.conf"
    with valkey(tmp_path, config=config, password=password()) as (_, url):
        client = redis.Redis.from_url(url, password=password(), decode_responses=True)
        try:
            verdict = await judge(client)
            assert verdict.problems == [] and verdict.warnings == []
            assert await client.config_get("appendfsync") == {"appendfsync": "everysec"}
            with pytest.raises(redis.ResponseError, match="unknown command"):
                await client.execute_command("FLUSHALL")  # renamed away
        finally:
            await client.aclose()


def site(folder: Path, https: int, http: int, upstream: int, cert: Path, key: Path) -> Path:
    """deploy/nginx.conf with what a machine's paths and ports would be here, wrapped in a
    main configuration of its own (no root, no system paths)."""
    text = (DEPLOY / "nginx.conf").read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};"),
        ("/etc/ssl/tree-bot/fullchain.pem", str(cert)),
        ("/etc/ssl/tree-bot/privkey.pem", str(key)),
        ("/var/log/nginx/", f"{folder}/"),
        ("/etc/nginx/tree-bot-proxy.conf", str(DEPLOY / "nginx-proxy.conf")),
        ("/var/www/acme", str(folder)),
    ):
        assert old in text, old
        text = text.replace(old, new)
    (folder / "site.conf").write_text(text)
    main = folder / "nginx.conf"
    main.write_text(
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events {}\nhttp {\n"
        + "".join(
            f"  {what}_temp_path {folder}/{what};\n"
            for what in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {folder}/site.conf;\n}}\n"
    )
    return main


@pytest.fixture
def nginx(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Debian's nginx (installed when missing), and a certificate for NAME."""
    install_missing({"nginx-light": NGINX})
    return (tmp_path, *certificate(tmp_path))


@pytest.fixture
async def bot_behind_nginx(
    nginx: tuple[Path, Path, Path], store: Store, redis_url: str
) -> AsyncIterator[tuple[Settings, int]]:
    """The bot on a loopback port, nginx in front with the deploy site: the settings (public
    address https://NAME:PORT) and nginx's plain-http port."""
    folder, cert, key = nginx
    https, http, upstream = free_port(), free_port(), free_port()
    settings = Settings(
        redis_url=redis_url,
        data_dir=folder / "data",
        bot_secret=SECRET,
        public_base_url=f"https://{NAME}:{https}",
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
        telegram_webhook_secret="hook-secret",  # noqa: S106 - a test value
        wechat_token=TOKEN,
    )
    runtime = await build_runtime(settings, store, load_catalog())
    runner = web.AppRunner(create_app(settings, runtime))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", upstream).start()
    main = site(folder, https, http, upstream, cert, key)
    checked = await asyncio.create_subprocess_exec(
        NGINX, "-t", "-c", main, "-p", folder, stderr=asyncio.subprocess.PIPE
    )
    _, said = await checked.communicate()
    assert checked.returncode == 0, said.decode()
    proxy = await asyncio.create_subprocess_exec(
        NGINX, "-c", main, "-p", folder, "-g", "daemon off;", stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield settings, http
    finally:
        proxy.terminate()
        await proxy.wait()
        await runner.cleanup()


async def test_the_nginx_site_serves_the_bot_and_doctor_passes_through_it(
    bot_behind_nginx: tuple[Settings, int], store: Store, nginx: tuple[Path, Path, Path]
) -> None:
    settings, http = bot_behind_nginx
    trusted = ssl.create_default_context(cafile=str(nginx[1]))
    connector = aiohttp.TCPConnector(resolver=Pinned(), ssl=trusted)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(100):  # nginx takes a moment to listen
            try:
                async with session.get(f"{settings.public_base_url}/healthz") as answer:
                    assert answer.status == 200
                    assert answer.version == aiohttp.HttpVersion11  # aiohttp speaks 1.1
                break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
        found = await doctor.examine(settings, store, load_catalog(), session)
        public = [f for f in found if f.topic == "public address" or "/wechat " in f.said]
        assert [f.said for f in public if f.level is not Level.OK] == []
        assert len(public) == 4  # https and public; /healthz; /telegram; WeChat's check
        plain = f"http://127.0.0.1:{http}"
        async with session.get(f"{plain}/chat", allow_redirects=False) as answer:
            assert answer.status == 301
            assert answer.headers["Location"].startswith("https://")
        stamp, nonce = str(int(time.time())), "n1"
        query = {"signature": sign(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
        async with session.get(f"{plain}/wechat", params=query | {"echostr": "e1"}) as answer:
            assert await answer.text() == "e1"  # WeChat may call over port 80
        notify = f"{settings.public_base_url}/pay/wechat/notify"
        async with session.post(notify, data=b"x" * 70_000) as answer:
            assert answer.status == 413 and answer.headers["Server"].startswith("nginx")


def test_the_systemd_units_and_logrotate_file_pass_their_checkers(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None or shutil.which("logrotate") is None:
        pytest.skip("systemd-analyze or logrotate is not installed here")
    for unit in ("tree-bot-web.service", "tree-bot-worker.service"):
        text = (DEPLOY / unit).read_text()
        assert "/srv/tree-bot/.venv/bin/python -m bot" in text
        local = tmp_path / unit  # this machine's interpreter and folders stand in
        local.write_text(
            text.replace("/srv/tree-bot/.venv/bin/python", sys.executable)
            .replace("/srv/tree-bot", str(tmp_path))
            .replace("/etc/tree-bot/env", str(DEPLOY / "env.example"))
        )
        checked = subprocess.run(  # noqa: S603 - the system's checker
            ["systemd-analyze", "verify", str(local)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        problems = [
            line
            for line in checked.stderr.splitlines()
            if unit in line and "User" not in line  # the treebot user exists only on servers
        ]
        assert problems == [], checked.stderr
    rotate = subprocess.run(  # noqa: S603 - as above
        [  # noqa: S607 - the system's logrotate
            "logrotate",
            "--debug",
            "--state",
            str(tmp_path / "state"),
            str(DEPLOY / "logrotate-tree-bot"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rotate.returncode == 0, rotate.stderr
