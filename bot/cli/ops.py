"""`backup`, `restore`, `migrate` and `doctor`: keeping the records, and checking a deployment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.kit import Subcommands, command, with_store
from bot.errors import CommandError

if TYPE_CHECKING:
    from bot.store import Store


def register(commands: Subcommands) -> None:
    """Add `backup`, `restore`, `doctor` and `migrate`."""
    about = "write every record to FILE (gzip JSON lines); never sessions or marks"
    saving = command(commands, "backup", about, with_store(backup, decode=False), "file")
    saving.add_argument("--with-evidence", action="store_true", help="claim photos too")
    about = "load a backup FILE into an empty store"
    loading = command(commands, "restore", about, with_store(restore, decode=False), "file")
    loading.add_argument(
        "--force", action="store_true", help="into a non-empty store: replace the keys it holds"
    )
    loading.add_argument(
        "--other-prefix", action="store_true", help="a backup taken under another key prefix"
    )
    about = "check this deployment: store, public address, platforms, fonts, clock"
    command(commands, "doctor", about, with_store(doctor))
    about = "bring every stored record to this version's shape (resumes if interrupted)"
    command(commands, "migrate", about, with_store(migrate))


async def backup(store: Store, args: argparse.Namespace) -> None:
    """Write a backup of every record (and the blobs: appeal images, claim photos if asked)."""
    from bot.config import load_settings
    from bot.ops import backup
    from bot.runtime import blobs_of

    async with blobs_of(load_settings()) as blobs:
        path = Path(args.file)
        header = await backup.take(store.redis, store.keys, path, blobs, args.with_evidence)
    print(f"{header.items} items backed up to {args.file}")


async def restore(store: Store, args: argparse.Namespace) -> None:
    """Load a backup into an empty store."""
    from bot.config import load_settings
    from bot.ops import backup
    from bot.runtime import blobs_of

    path = Path(args.file)
    async with blobs_of(load_settings()) as blobs:
        done = await backup.restore(
            store.redis, store.keys, path, blobs, args.force, args.other_prefix
        )
    print(f"{done.header.items} items restored from {path} (taken {done.header.taken_at})")
    if done.remade:
        print(f"{done.remade} index keys of pledges written during the backup made again")


async def migrate(store: Store, args: argparse.Namespace) -> None:
    """Bring every record to the version this code writes, and photos kept in Redis to the
    blobs (resumable)."""
    from bot.config import load_settings
    from bot.ops.migrate import migrate
    from bot.runtime import blobs_of

    async with blobs_of(load_settings()) as blobs:
        report = await migrate(store, blobs)
    print("\n".join(report.lines()))
    if report.left:
        raise CommandError(f"{len(report.left)} records left as they were (named above)")


async def doctor(store: Store, args: argparse.Namespace) -> int:
    """Check the deployment and print each finding with its fix; exit 1 if any fails."""
    import aiohttp

    from bot.catalog import load_catalog
    from bot.config import load_settings
    from bot.ops import doctor

    async with aiohttp.ClientSession() as session:
        found = await doctor.examine(load_settings(), store, load_catalog(), session)
    print("\n".join(line for finding in found for line in finding.lines()))
    if not doctor.healthy(found):
        print("\nsome checks failed: fix them and run doctor again", file=sys.stderr)
        return 1
    print("\nall is well")
    return 0
