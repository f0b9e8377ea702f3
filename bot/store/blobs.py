"""Files the bot keeps outside Redis's memory: claim photos and appeal pictures, written once
and read a few times. `Blobs` is a directory under BOT_DATA_DIR by default (one machine), or
S3-compatible object storage (`BLOB_URL=s3://bucket/prefix`; Aliyun OSS, Tencent COS, MinIO and
AWS speak it) through aiobotocore. A name is a path of plain parts (`claims/7.jpg`); people
reach a blob only through the bot's signed links."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from bot.errors import StoreError
from bot.model import immutable

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

NAME = re.compile(r"[a-z]+(/[A-Za-z0-9_-]+)*/[A-Za-z0-9_-]+\.[a-z]+")


class Blobs(Protocol):
    """Where blobs are kept."""

    async def put(self, name: str, data: bytes) -> None:
        """Keep `data` under `name` (replacing what was there)."""

    async def get(self, name: str) -> bytes | None:
        """The blob, or None when there is none."""

    async def delete(self, name: str) -> None:
        """Remove the blob, if there is one."""

    def names(self, prefix: str) -> AsyncIterator[str]:
        """Every blob's name under `prefix` (`claims/`)."""


async def moving(
    blobs: Blobs,
    name: str,
    old: Callable[[], Awaitable[bytes | None]],
    drop_old: Callable[[], Awaitable[None]],
) -> bytes | None:
    """A blob; one an older version kept in Redis (`old`) is moved into the blobs as it is
    read, so nothing kept is lost across the upgrade."""
    found = await blobs.get(name)
    if found is not None:
        return found
    kept = await old()
    if kept is not None:
        await blobs.put(name, kept)
        await drop_old()
    return kept


def checked(name: str) -> str:
    """A blob's name, refused unless it is plain parts (no `..`, no absolute path)."""
    if not NAME.fullmatch(name):
        raise ValueError(f"not a blob name: {name!r}")
    return name


@immutable
class DirectoryBlobs:
    """Blobs as files under one directory, written whole (a temporary file, then renamed) and
    read on a thread, off the event loop."""

    root: Path

    async def put(self, name: str, data: bytes) -> None:
        """Write the file whole, or not at all."""
        await asyncio.to_thread(self._write, self.root / checked(name), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)

    async def get(self, name: str) -> bytes | None:
        """The file's bytes, or None."""
        path = self.root / checked(name)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, name: str) -> None:
        """Remove the file, if it is there."""
        await asyncio.to_thread((self.root / checked(name)).unlink, True)

    async def names(self, prefix: str) -> AsyncIterator[str]:
        """Files under the prefix's folder (`claims/`; "" for all), by name."""
        for path in await asyncio.to_thread(_files, self.root / prefix.rstrip("/")):
            yield path.relative_to(self.root).as_posix()


def _files(folder: Path) -> list[Path]:
    """Whole files under a folder (none while it does not exist), in order."""
    if not folder.is_dir():
        return []
    found = folder.rglob("*")
    return sorted(p for p in found if p.is_file() and not p.name.startswith(".partial-"))


@immutable
class S3Blobs:
    """Blobs as objects in an S3-compatible bucket, under a prefix."""

    client: S3Client
    bucket: str
    prefix: str = ""

    async def put(self, name: str, data: bytes) -> None:
        """Upload the object (S3 writes it whole)."""
        async with _faults():
            await self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    async def get(self, name: str) -> bytes | None:
        """The object's bytes, or None."""
        async with _faults():
            try:
                found = await self.client.get_object(Bucket=self.bucket, Key=self._key(name))
            except self.client.exceptions.NoSuchKey:
                return None
            async with found["Body"] as body:
                data: bytes = await body.read()
                return data

    async def delete(self, name: str) -> None:
        """Remove the object (S3 answers alike whether it was there)."""
        async with _faults():
            await self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    async def names(self, prefix: str) -> AsyncIterator[str]:
        """Objects under the prefix, by name (a page of a thousand at a time)."""
        pages = self.client.get_paginator("list_objects_v2")
        async with _faults():
            async for page in pages.paginate(Bucket=self.bucket, Prefix=self._key_prefix(prefix)):
                for item in page.get("Contents", []):
                    yield item["Key"].removeprefix(self.prefix)

    def _key(self, name: str) -> str:
        return f"{self.prefix}{checked(name)}"

    def _key_prefix(self, prefix: str) -> str:
        return f"{self.prefix}{prefix}"


@contextlib.asynccontextmanager
async def _faults() -> AsyncIterator[None]:
    """The object store's faults (the network, a refusal) as StoreError, as Redis's are."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError, OSError) as exc:
        raise StoreError(f"the object store failed: {exc}") from exc


@immutable
class Bucket:
    """Where BLOB_URL points: an S3 bucket and a prefix in it."""

    bucket: str
    prefix: str


def bucket_of(url: str) -> Bucket:
    """`s3://bucket/prefix` read (BLOB_URL, checked by the settings)."""
    parts = urlsplit(url)
    prefix = parts.path.strip("/")
    return Bucket(parts.netloc, f"{prefix}/" if prefix else "")


@contextlib.asynccontextmanager
async def open_blobs(
    data_dir: Path,
    url: str | None = None,
    endpoint: str | None = None,
    region: str = "us-east-1",
    keys: tuple[str, str] | None = None,
) -> AsyncIterator[Blobs]:
    """The blobs of a deployment: `data_dir/blobs`, or the bucket at `url` (s3://bucket/prefix)
    through `endpoint` with these keys (else the environment's AWS credentials)."""
    if not url:
        yield DirectoryBlobs(data_dir / "blobs")
        return
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    where = bucket_of(url)
    key_id, secret = keys or (None, None)
    config = AioConfig(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3})
    async with get_session().create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    ) as client:
        yield S3Blobs(client, where.bucket, where.prefix)
