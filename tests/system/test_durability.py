"""A Redis that cannot keep records stops `serve` and `worker` at start, saying what to set;
ALLOW_VOLATILE_REDIS=1 lets them run, loudly; a server that hides CONFIG gets a warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis.asyncio as aioredis

from bot.store.base import connect
from bot.store.durability import judge
from tests.kit.paths import ROOT
from tests.kit.servers import valkey, valkey_cluster


def start(command: str, url: str, tmp_path: Path, allow: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REDIS_URL=url, BOT_DATA_DIR=str(tmp_path), ALLOW_VOLATILE_REDIS=allow)
    env.pop("REDIS_CLUSTER", None)
    return subprocess.run(  # noqa: S603 - this interpreter, our own package
        [sys.executable, "-m", "bot", command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_serve_and_worker_refuse_a_server_that_keeps_nothing(tmp_path: Path) -> None:
    with valkey(tmp_path) as (_, url):  # no AOF, no save rules
        for command in ("serve", "worker"):
            done = start(command, url, tmp_path, allow="0")
            assert done.returncode == 2, done.stderr
            assert "persistence is off" in done.stderr and "appendonly yes" in done.stderr
            assert "ALLOW_VOLATILE_REDIS=1" in done.stderr


def test_eviction_is_refused_and_the_allowance_is_loud(tmp_path: Path) -> None:
    with valkey(tmp_path, "--maxmemory-policy", "allkeys-lru") as (_, url):
        done = start("worker", url, tmp_path, allow="0")
        assert done.returncode == 2 and "maxmemory-policy is allkeys-lru" in done.stderr
        assert "noeviction" in done.stderr
        env = dict(os.environ, REDIS_URL=url, BOT_DATA_DIR=str(tmp_path), ALLOW_VOLATILE_REDIS="1")
        env.pop("REDIS_CLUSTER", None)
        worker = subprocess.Popen(  # runs: stopped by us
            [sys.executable, "-m", "bot", "worker"],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, errors = worker.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            worker.terminate()
            _, errors = worker.communicate(timeout=30)
        assert "*** WARNING: ALLOW_VOLATILE_REDIS=1" in errors
        assert worker.returncode in (0, -15), errors  # it ran until stopped


async def test_a_durable_server_passes_and_a_hidden_config_warns(tmp_path: Path) -> None:
    options = ("--appendonly", "yes", "--maxmemory-policy", "noeviction")
    with valkey(tmp_path, *options, "--rename-command", "CONFIG", "") as (_, url):
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            verdict = await judge(client)  # CONFIG hidden: judged from INFO
        finally:
            await client.aclose()
    assert verdict.problems == [] and "CONFIG is not allowed" in verdict.warnings[0]
    with valkey(tmp_path, "--appendonly", "yes") as (_, url):
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            assert (await judge(client)).problems == []
        finally:
            await client.aclose()


async def test_every_primary_of_a_cluster_is_judged(tmp_path: Path) -> None:
    with valkey_cluster(tmp_path) as url:
        client = connect(url, cluster=True)
        try:
            verdict = await judge(client)
        finally:
            await client.aclose()
    assert len(verdict.problems) == 3  # three nodes, none keeping anything
    assert all("persistence is off" in p and p.startswith("127.0.0.1:") for p in verdict.problems)
