"""Backups: every kept record of the store in one gzip file of JSON lines, and back.

The first line is a header (what this is, the format, the key prefix, when it was taken, whether
claim photos are in), then one item per line (`store/dump.py`), then the blobs (appeal images
always, claim photos when asked: `{"blob": name, "b64": ...}`), then a footer with the number of
items. Sessions, marks, locks and rate counters are never in (`Keys.kept`). A file that is cut
short, damaged, of another format or another prefix is refused before anything is written: the
whole file is read once to check it, then once to load it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import os
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from bot.errors import CommandError
from bot.model import immutable
from bot.store import Store
from bot.store.blobs import Blobs
from bot.store.dump import TYPES, Loader, any_key, items
from bot.store.jobs import Daily
from bot.store.keys import Keys
from bot.store.pledges import PledgeStore

log = logging.getLogger(__name__)
WHAT = "wuxi-tree-planting-bot backup"
FORMAT = 1  # the file's layout; records inside carry their own versions
LEVEL = 3  # gzip level: most of the size gain of 9 at a fraction of the time
SUFFIX = ".jsonl.gz"
RECORD_BLOBS = ("appeals/",)  # blobs that are records: in every backup
EVIDENCE_BLOBS = ("claims/",)  # claim photos: in a backup when asked for


@immutable
class Header:
    """What a backup says about itself."""

    prefix: str
    taken_at: str
    evidence: bool
    items: int = 0  # from the footer, once the file is checked


async def take(
    client: redis.Redis, keys: Keys, path: Path, blobs: Blobs, evidence: bool = False
) -> Header:
    """Write a backup of the store and its blobs to `path` (through a temporary file, so
    `path` is either the old file or the whole new one)."""
    header = Header(keys.prefix, datetime.now(UTC).isoformat(timespec="seconds"), evidence)
    partial = path.with_name(f".{path.name}.partial")
    count = 0
    try:
        with gzip.open(partial, "wt", encoding="utf-8", compresslevel=LEVEL) as out:
            _line(out, {"backup": WHAT, "format": FORMAT} | _fields(header))
            async for item in items(client, keys, evidence):
                _line(out, item)
                count += 1
            for prefix in RECORD_BLOBS + (EVIDENCE_BLOBS if evidence else ()):
                async for name in blobs.names(prefix):
                    data = await blobs.get(name)
                    if data is not None:  # not deleted meanwhile
                        _line(out, {"blob": name, "b64": base64.b64encode(data).decode()})
                        count += 1
            _line(out, {"end": True, "items": count})
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return Header(header.prefix, header.taken_at, evidence, count)


def _fields(header: Header) -> dict[str, Any]:
    return {"prefix": header.prefix, "taken_at": header.taken_at, "evidence": header.evidence}


def _line(out: Any, value: dict[str, Any]) -> None:
    out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


def check(path: Path) -> Header:
    """Read the whole file and say what it holds; CommandError naming the fault when it is not
    a whole backup this code can load."""
    lines = _lines(path)
    header = _header(path, next(lines, None))
    for count, line in enumerate(lines):
        if "end" in line:
            if line.get("items") != count or next(lines, None) is not None:
                raise CommandError(f"{path}: damaged (the item count does not match)")
            return Header(header.prefix, header.taken_at, header.evidence, count)
        if "blob" in line and isinstance(line["blob"], str) and isinstance(line.get("b64"), str):
            continue
        if not {"k", "t", "v"} <= line.keys() or line["t"] not in TYPES:
            raise CommandError(f"{path}: damaged (line {count + 2} is not an item)")
    raise CommandError(f"{path}: cut short (no end line): the backup did not finish")


def _header(path: Path, line: dict[str, Any] | None) -> Header:
    if line is None or line.get("backup") != WHAT:
        raise CommandError(f"{path}: not a backup of this bot")
    if line.get("format") != FORMAT:
        raise CommandError(
            f"{path}: backup format {line.get('format')!r}; this version reads format {FORMAT}"
        )
    if not isinstance(line.get("prefix"), str) or not isinstance(line.get("taken_at"), str):
        raise CommandError(f"{path}: damaged (the header lacks the prefix or the time)")
    return Header(line["prefix"], line["taken_at"], bool(line.get("evidence")))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """The file's lines as JSON objects; CommandError when it cannot be read as such."""
    number = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as source:
            for number, line in enumerate(source, 1):  # noqa: B007 (named in the message)
                value = json.loads(line)
                if not isinstance(value, dict):
                    raise ValueError("not an object")
                yield value
    except FileNotFoundError as exc:
        raise CommandError(f"{path}: no such file") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CommandError(f"{path}: cut short or damaged ({exc})") from exc
    except UnicodeDecodeError as exc:  # in reading the line after `number`
        raise CommandError(f"{path}: damaged at line {number + 1} ({exc})") from exc
    except ValueError as exc:  # in line `number`
        raise CommandError(f"{path}: damaged at line {number} ({exc})") from exc


@immutable
class Restored:
    """What a restore did: the backup's header, and the pledge index keys it made again."""

    header: Header
    remade: int


async def restore(
    client: redis.Redis,
    keys: Keys,
    path: Path,
    blobs: Blobs,
    force: bool = False,
    other_prefix: bool = False,
) -> Restored:
    """Load a checked backup into the store and the blobs, then make any pledge index key the
    backup missed
    (a pledge written while it ran). Refused (nothing written) when the file is not a whole
    backup, was taken under another prefix (unless `other_prefix`), or the store holds keys
    already (unless `force`: then each key of the backup replaces the one there)."""
    header = check(path)
    if header.prefix != keys.prefix and not other_prefix:
        raise CommandError(
            f"{path}: taken under key prefix {header.prefix!r}, this deployment uses "
            f"{keys.prefix!r} (set REDIS_KEY_PREFIX={header.prefix}, or --other-prefix)"
        )
    if not force and await any_key(client, keys):
        raise CommandError(
            f"the store already holds keys under {keys.prefix!r}: restore loads into an empty "
            "store (--force replaces the keys the backup holds and keeps the others)"
        )
    loader = Loader(client, keys, replace=force)
    lines = _lines(path)
    next(lines)
    for number, line in enumerate(lines, 2):
        if "end" in line:
            break
        try:
            if "blob" in line:
                await blobs.put(line["blob"], base64.b64decode(line["b64"], validate=True))
            else:
                await loader.add(line)
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
            raise CommandError(
                f"{path}: line {number} cannot be written ({exc}); the lines before it are in "
                "the store: mend the file and restore again with --force"
            ) from exc
    await loader.flush()
    return Restored(header, await PledgeStore(client, keys).reindex())


def rotate(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups in `folder`; the removed ones."""
    found = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)
    return found[keep:]


def nightly_name(now: datetime) -> str:
    """The file name of a backup taken at `now`."""
    return f"backup-{now.strftime('%Y%m%d-%H%M%S')}{SUFFIX}"


class Nightly:
    """The nightly backup into a folder, once a day at or after `hour` (local time), taken by
    one worker of all (a daily claim in Redis); the newest `keep` files stay."""

    def __init__(
        self, client: redis.Redis, store: Store, blobs: Blobs, folder: Path, keep: int, hour: int
    ):
        self.client = client
        self.store = store
        self.blobs = blobs
        self.folder = folder
        self.keep = keep
        self.hour = hour
        self._daily = Daily(store.jobs, "backup")

    async def due(self, now: datetime) -> Path | None:
        """Take today's backup if it is due and no other worker has; the file, or None."""
        if not self.keep or now.hour < self.hour:
            return None
        if not await self._daily.claim(now.date().isoformat()):
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / nightly_name(now)
        header = await take(self.client, self.store.keys, path, self.blobs)
        rotate(self.folder, self.keep)
        log.info("nightly backup: %d items in %s", header.items, path)
        return path
