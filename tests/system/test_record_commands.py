"""`backup`, `restore` and `migrate` as the commands an operator types."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as redis

from bot.runtime import Runtime
from bot.store import Store
from tests.kit.processes import cli
from tests.unit.test_backup import fill, raw, snapshot
from tests.unit.test_migrate import seed

__all__ = ["raw"]  # the fixture, shared with the backup tests


async def test_backup_and_restore_commands(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    await fill(runtime)
    kept = await snapshot(raw, store.keys)
    file = str(tmp_path / "b.jsonl.gz")
    done = cli("backup", file, "--with-evidence", env=cli_env)
    assert done.returncode == 0 and "items backed up" in done.stdout, done.stderr
    refused = cli("restore", file, env=cli_env)
    assert refused.returncode == 2 and "already holds keys" in refused.stderr
    await store.delete_prefix()
    done = cli("restore", file, env=cli_env)
    assert done.returncode == 0 and "items restored" in done.stdout, done.stderr
    assert await snapshot(raw, store.keys) == kept


async def test_migrate_command_names_what_it_left(store: Store, cli_env: dict[str, str]) -> None:
    await seed(store)
    done = cli("migrate", env=cli_env)
    assert done.returncode == 2 and "2 records left" in done.stderr, done.stderr
    assert "version 99 is newer than this code" in done.stdout and "migrated" in done.stdout
    await store.redis.delete(store.keys.order("BROKEN"), store.keys.pledges("telegram:7"))
    done = cli("migrate", env=cli_env)
    assert done.returncode == 0 and "current" in done.stdout, done.stderr
