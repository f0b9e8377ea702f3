"""Photos and pictures kept outside Redis: the same behaviour from a directory and from an
S3-compatible server (moto's server mode on 127.0.0.1, through aiobotocore); a claim's photo
and an appeal's image live there, never in Redis; pictures an older version kept in Redis move
on reading and on `migrate`, keeping the days a photo had left."""

from __future__ import annotations

import base64
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.catalog import load_catalog
from bot.config import Settings
from bot.errors import StoreError
from bot.ops import doctor
from bot.ops.findings import Level
from bot.ops.migrate import migrate
from bot.runtime import Runtime, blobs_of, build_runtime
from bot.services.claims import photo_name
from bot.store import Store
from bot.store.blobs import Blobs, DirectoryBlobs, S3Blobs
from bot.store.broadcasts import Broadcast
from bot.web.app import create_app
from tests.kit.chat import Chat
from tests.kit.fulfil import photo
from tests.kit.paths import TESTS
from tests.kit.s3 import KEYS, REGION, s3_server

PICTURE = (TESTS / "golden" / "certificate-zh.png").read_bytes()
pytestmark = pytest.mark.xdist_group("s3")  # one S3 server for the tests that use it


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


def s3_settings(settings: Settings, endpoint: str) -> Settings:
    """Settings that keep blobs in a bucket of their own on the test server."""
    return dataclasses.replace(
        settings,
        blob_url=f"s3://photos-{uuid.uuid4().hex[:12]}/wuxi",
        blob_endpoint=endpoint,
        blob_region=REGION,
        blob_access_key_id=KEYS[0],
        blob_secret_access_key=KEYS[1],
    )


@pytest.fixture
async def bucket(settings: Settings, endpoint: str) -> AsyncIterator[tuple[Settings, S3Blobs]]:
    """A new bucket and the bot's blobs in it."""
    configured = s3_settings(settings, endpoint)
    async with blobs_of(configured) as blobs:
        assert isinstance(blobs, S3Blobs)
        await blobs.client.create_bucket(Bucket=blobs.bucket)
        yield configured, blobs


async def exercise(blobs: Blobs) -> None:
    """What every kind of blobs does alike."""
    assert await blobs.get("claims/1.jpg") is None
    await blobs.put("claims/1.jpg", b"\xff\xd8one")
    await blobs.put("claims/2.jpg", b"\xff\xd8two")
    await blobs.put("appeals/1.image", PICTURE)
    await blobs.put("claims/1.jpg", b"\xff\xd8one again")  # replaced whole
    assert await blobs.get("claims/1.jpg") == b"\xff\xd8one again"
    assert [n async for n in blobs.names("claims/")] == ["claims/1.jpg", "claims/2.jpg"]
    assert await blobs.get("appeals/1.image") == PICTURE
    await blobs.delete("claims/1.jpg")
    await blobs.delete("claims/1.jpg")  # gone already: no error
    assert [n async for n in blobs.names("claims/")] == ["claims/2.jpg"]
    for bad in ("../secret.jpg", "/etc/passwd", "claims/../../x.jpg", "claims/1.jpg\n", ""):
        with pytest.raises(ValueError, match="not a blob name"):
            await blobs.put(bad, b"x")


async def test_a_directory_keeps_blobs_whole(tmp_path: Path) -> None:
    blobs = DirectoryBlobs(tmp_path / "blobs")
    await exercise(blobs)
    assert not list((tmp_path / "blobs").rglob(".partial-*"))  # written whole
    assert (tmp_path / "blobs" / "claims" / "2.jpg").read_bytes() == b"\xff\xd8two"


async def test_an_s3_bucket_keeps_blobs_alike_under_its_prefix(
    bucket: tuple[Settings, S3Blobs],
) -> None:
    _, blobs = bucket
    await exercise(blobs)
    listed = await blobs.client.list_objects_v2(Bucket=blobs.bucket)
    keys = sorted(item["Key"] for item in listed["Contents"])
    assert keys == ["wuxi/appeals/1.image", "wuxi/claims/2.jpg"]


async def test_an_unreachable_object_store_is_a_store_error(
    settings: Settings, endpoint: str
) -> None:
    nowhere = dataclasses.replace(
        s3_settings(settings, endpoint), blob_endpoint="http://127.0.0.1:9"
    )
    async with blobs_of(nowhere) as blobs:
        with pytest.raises(StoreError, match="object store"):
            await blobs.get("claims/1.jpg")


async def test_doctor_checks_where_photos_are_kept(
    bucket: tuple[Settings, S3Blobs], settings: Settings, endpoint: str
) -> None:
    configured, blobs = bucket
    (found,) = await doctor.photos(configured)
    assert found.level is Level.OK and configured.blob_url in found.said
    assert [n async for n in blobs.names("")] == []  # the probe is gone
    (found,) = await doctor.photos(settings)
    assert found.level is Level.OK and "BOT_DATA_DIR/blobs" in found.said
    missing = s3_settings(settings, endpoint)  # a bucket nobody made
    (found,) = await doctor.photos(missing)
    assert found.level is Level.FAIL and "BLOB_URL" in found.fix


async def test_claim_photos_and_appeal_images_live_in_the_bucket_not_in_redis(
    bucket: tuple[Settings, S3Blobs], store: Store
) -> None:
    configured, blobs = bucket
    runtime = await build_runtime(configured, store, load_catalog(), blobs=blobs)
    chat = Chat(runtime.engine, user_id="s3")
    await chat.pledge("jinkui", "in_kind", "200", "张三")
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    bc = await runtime.appeals.create(Broadcast("", "植树节", "Tree day"), image=PICTURE)
    assert [n async for n in blobs.names("")] == ["appeals/1.image", photo_name(claim.id)]
    assert await runtime.appeals.image(bc) == PICTURE
    keys = [k async for k in store.redis.scan_iter(f"{store.prefix}*")]
    assert not [k for k in keys if k.endswith((":photo", ":image"))]
    strings = [k for k in keys if await store.redis.type(k) == "string"]
    assert max([await store.redis.strlen(k) for k in strings]) < 4000  # no picture hides

    link = runtime.claims.photo_path(claim.id)
    async with TestClient(TestServer(create_app(configured, runtime))) as client:
        shown = await client.get(link)  # through the bot's signed link, as before
        assert shown.status == 200 and (await shown.read())[:2] == b"\xff\xd8"


async def older_pictures(runtime: Runtime) -> tuple[str, str, bytes]:
    """A decided claim and an appeal as an older version kept them: pictures in Redis."""
    chat = Chat(runtime.engine, user_id="old")
    await chat.pledge("jinkui", "in_kind", "200", "张三")
    await chat.send(photo=photo())
    (claim,) = await runtime.claims.waiting()
    kept = await runtime.claims.photo(claim.id)
    assert kept is not None
    await runtime.blobs.delete(photo_name(claim.id))
    bc = await runtime.appeals.create(Broadcast("", "植树节", "Tree day"))
    redis, keys = runtime.store.redis, runtime.store.keys
    photo_key = keys.claim(claim.id, "photo")
    await redis.set(photo_key, base64.b64encode(kept).decode(), ex=30 * 86400)  # 30 days left
    await redis.set(keys.broadcast(bc.id, "image"), base64.b64encode(PICTURE).decode())
    return claim.id, bc.id, kept


@pytest.mark.parametrize("by", ["reading", "migrate"])
async def test_pictures_kept_in_redis_by_an_older_version_move_to_the_blobs(
    runtime: Runtime, blobs: DirectoryBlobs, by: str
) -> None:
    claim_id, bc_id, kept = await older_pictures(runtime)
    if by == "reading":
        assert await runtime.claims.photo(claim_id) == kept
        bc = await runtime.appeals.get(bc_id)
        assert bc is not None and await runtime.appeals.image(bc) == PICTURE
    else:
        report = await migrate(runtime.store, blobs)
        assert report.counts["pictures moved to the blobs"] == 2
        again = await migrate(runtime.store, blobs)
        assert "pictures moved to the blobs" not in again.counts  # nothing left to move
    assert await blobs.get(photo_name(claim_id)) == kept
    assert await blobs.get(f"appeals/{bc_id}.image") == PICTURE
    keys = runtime.store.keys
    assert not await runtime.store.redis.exists(keys.claim(claim_id, "photo"))
    assert not await runtime.store.redis.exists(keys.broadcast(bc_id, "image"))
    now = time.time()  # the 30 days the photo had left go with it
    assert await runtime.claims.drop_old_photos(now + 29 * 86400) == 0
    assert await runtime.claims.drop_old_photos(now + 31 * 86400) == 1
    assert await blobs.get(photo_name(claim_id)) is None
