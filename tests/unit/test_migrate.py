"""`migrate` against real Redis: the golden records of every version in their places are
rewritten in today's version, through an interruption and a resumed run; records newer than the
code or unreadable are left and named; a record changed meanwhile is not overwritten."""

from __future__ import annotations

import json

from bot.ops.migrate import FAMILIES, migrate
from bot.runtime import Runtime
from bot.services import pledges
from bot.store import Store
from bot.store.blobs import DirectoryBlobs
from bot.store.migration import Progress
from tests.kit.paths import TESTS

GOLDEN = TESTS / "golden" / "records"
OLD_PLEDGES = 1200  # over several pages of keys


def golden(name: str) -> str:
    return (GOLDEN / f"{name}.json").read_text(encoding="utf-8").strip()


async def seed(store: Store) -> None:
    """Golden records where the bot keeps them, and many version-1 pledges besides."""
    keys, redis = store.keys, store.redis
    await redis.hset(keys.pledges("telegram:42"), "7K3M9Q2TAB", golden("pledge-v1"))
    await redis.hset(keys.pledges("wechat:oABCD1234zhang"), "8N4P2R6TXA", golden("pledge-v2"))
    unversioned = json.loads(golden("booking-v1"))
    del unversioned["v"]  # written before records carried versions
    await redis.hset(keys.bookings("telegram:42"), "3", json.dumps(unversioned))
    await redis.set(keys.consent("telegram:42"), golden("consent-v1"))
    await redis.set(keys.claim("12", "record"), golden("claim-v1"))
    await redis.set(keys.order("TP7K3M9Q2TAB01"), golden("order-v1"))
    await redis.hset(keys.admins(), "wang", golden("account-v1"))
    newer = json.loads(golden("pledge-v2")) | {"v": 99, "id": "FUTURE0001"}
    await redis.hset(keys.pledges("telegram:7"), "FUTURE0001", json.dumps(newer))
    await redis.set(keys.order("BROKEN"), "{not json")
    old = json.loads(golden("pledge-v1"))
    pipe = redis.pipeline(transaction=False)
    for n in range(OLD_PLEDGES):
        pipe.hset(keys.pledges(f"telegram:{1000 + n}"), f"P{n}", json.dumps(old | {"id": f"P{n}"}))
        pipe.set(keys.pledge_owner(f"P{n}"), f"telegram:{1000 + n}")
    await pipe.execute()


async def versions(store: Store) -> dict[str, set[int]]:
    """The versions found per family of records."""
    found: dict[str, set[int]] = {}
    async for key in store.redis.scan_iter(match=store.keys.pattern(), count=1000):
        family = store.keys.family(key)
        if family is None:
            continue
        raws = (
            list((await store.redis.hgetall(key)).values())
            if FAMILIES[family].hashed
            else [await store.redis.get(key)]
        )
        for raw in raws:
            if raw.startswith("{not"):
                continue
            found.setdefault(family, set()).add(int(json.loads(raw).get("v", 0)))
    return found


async def test_an_interrupted_migration_resumes_and_brings_every_record_up(
    runtime: Runtime, store: Store, blobs: DirectoryBlobs
) -> None:
    await seed(store)
    assert (await versions(store))["pledges"] == {1, 2, 99}
    first = await migrate(store, blobs, pages=1)
    assert first.counts["migrated"] > 0 and not first.resumed
    saved = await store.migration.progress()
    assert any(saved.cursors.values()) and saved.counts["migrated"] == first.counts["migrated"]
    second = await migrate(store, blobs)
    assert second.resumed and await store.migration.progress() == Progress()
    assert second.counts["migrated"] == OLD_PLEDGES + 2  # the pledges of v1, the booking
    assert second.counts["current"] == 5  # pledge v2, consent, claim, order, account
    assert second.counts["newer (left)"] == 1 and second.counts["unreadable (left)"] == 1
    assert any("FUTURE0001" in line and "version 99" in line for line in second.left)
    assert any("BROKEN" in line and "cannot be read" in line for line in second.left)
    assert await versions(store) == {
        "pledges": {pledges.RECORD_VERSION, 99},
        "bookings": {1},
        "consent": {1},
        "claim": {1},
        "order": {1},
        "admins": {1},
    }
    old = await runtime.pledges.by_serial("WX2026-7K3M9Q2TAB-4F8A2C")
    migrated = await store.redis.hget(store.keys.pledges("telegram:42"), "7K3M9Q2TAB")
    assert old is None or old.to_json() == migrated  # read the same before and after
    assert [e.what for e in pledges.Pledge.from_json(migrated).history] == ["pledged", "fulfilled"]
    again = await migrate(store, blobs)
    assert again.counts["migrated"] == 0 and not again.resumed


async def test_a_record_changed_meanwhile_is_not_overwritten(store: Store) -> None:
    key = store.keys.order("T1")
    await store.redis.set(key, '{"by":"the bot"}')
    assert not await store.migration.swap(key, None, '{"read":"before"}', '{"v":1}')
    assert await store.redis.get(key) == '{"by":"the bot"}'
    await store.redis.hset(store.keys.admins(), "wang", "now")
    assert not await store.migration.swap(store.keys.admins(), "wang", "before", "{}")
    assert await store.redis.hget(store.keys.admins(), "wang") == "now"
