"""Backups and restores against real Redis: a store with every kind of record goes through a
backup into an empty store and comes back equal (certificates verify, figures and statuses are
the same); what is never backed up; files that are cut short, of another format or another
prefix, and a restore into a non-empty store change nothing; the nightly backup and its
rotation; the commands."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from bot.errors import CommandError
from bot.model import UserKey
from bot.ops import backup
from bot.ops.backup import Nightly
from bot.runtime import Runtime
from bot.services import stats as reports
from bot.store import Store, connect
from bot.store.blobs import DirectoryBlobs
from bot.store.broadcasts import Broadcast
from bot.store.dump import items
from bot.store.keys import Kept, Keys
from tests.conftest import CLUSTER
from tests.kit.chat import Chat
from tests.kit.fulfil import approve, pay
from tests.kit.paths import TESTS
from tests.kit.slots import add_slot

USERS = ("b1", "b2", "b3")
PICTURE = (TESTS / "golden" / "certificate-zh.png").read_bytes()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.Redis]:
    """A client answering bytes, as backups use."""
    client = connect(redis_url, cluster=CLUSTER, decode=False)
    yield client
    await client.aclose()


def chat(runtime: Runtime, user: str) -> Chat:
    return Chat(runtime.engine, user_id=user, display_name=f"植树人{user}")


async def fill(runtime: Runtime) -> None:
    """Every kind of record: pledges paid, claimed with a photo and waiting, a booking checked
    in, a console account and its audit trail, subscribers, the daily figures."""
    for user in USERS:
        await chat(runtime, user).pledge("jinkui", "donation", "100", f"植树人{user}")
        await pay(runtime, f"test:{user}")
    await chat(runtime, "b1").pledge("jinkui", "in_kind", "200", "张三丰")
    await approve(runtime, "test:b1")
    await chat(runtime, "b2").pledge("guzhuang", "donation", "60", "李四")  # left waiting
    slot = await add_slot(runtime, length_h=3)
    await (booker := chat(runtime, "b3")).say("/book")
    await booker.say("金匮")
    await booker.book(slot.id)
    code = (await runtime.bookings.slots.bookings("test:b3"))[slot.id].code
    assert (await runtime.bookings.check_in(code, slot.start)).status == "ok"
    await runtime.admins.add("ops", "city", "a long enough password", "cli:test")
    await runtime.store.users.subscribe(UserKey("test:b1"))


async def picture(runtime: Runtime) -> dict[str, Any]:
    """What the programme's people would look at: every pledge, every serial's verification,
    the year's figures per user, the statistics report."""
    pledges = {u: await runtime.pledges.of_user(UserKey(f"test:{u}")) for u in USERS}
    serials = sorted(p.serial for ps in pledges.values() for p in ps if p.serial)
    verified = [await runtime.pledges.by_serial(s) for s in serials]
    period = reports.Period.parse(runtime.catalog, None, None, None)
    stats = await reports.stats(runtime.pledges, runtime.payments, runtime.claims, period)
    year, years = runtime.catalog.local(datetime.now(UTC)).year, {}
    for user in USERS:
        summary = await runtime.pledges.year_summary(UserKey(f"test:{user}"), year)
        years[user] = (summary.trees, sorted(p.id for p in summary.pledges))
    return {
        "pledges": {
            u: sorted((p.id, p.status, p.serial) for p in ps) for u, ps in pledges.items()
        },
        "verified": [(v.id, v.status) if v else None for v in verified],
        "stats": stats,
        "years": years,
    }


async def snapshot(raw: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Every kept key and its values, in an order that does not depend on Redis."""
    found: dict[str, Any] = {}
    async for item in items(raw, keys, evidence=True):
        values = item["v"]
        if item["t"] in ("hash", "set", "zset"):
            values = sorted(json.dumps(v, sort_keys=True) for v in values)
        found[json.dumps(item["k"])] = (item["t"], values, "x" in item)
    return found


async def test_a_backup_restored_into_an_empty_store_gives_the_same_programme(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    await fill(runtime)
    await runtime.appeals.create(Broadcast("", "植树节", "Tree day"), image=PICTURE)
    before, kept = await picture(runtime), await snapshot(raw, store.keys)
    photos = {name: await blobs.get(name) async for name in blobs.names("")}
    assert len(before["verified"]) == 5 and all(before["verified"])
    assert sorted(photos) == ["appeals/1.image", "claims/1.jpg"]
    file = tmp_path / "b.jsonl.gz"
    taken = await backup.take(raw, store.keys, file, blobs, evidence=True)
    assert taken.items == len(kept) + len(photos) and backup.check(file).items == taken.items
    await store.delete_prefix()
    shutil.rmtree(blobs.root)
    restored = await backup.restore(raw, store.keys, file, blobs)
    assert restored.header.items == taken.items and restored.remade == 0
    assert await picture(runtime) == before
    assert await snapshot(raw, store.keys) == kept
    assert {name: await blobs.get(name) async for name in blobs.names("")} == photos


async def test_sessions_marks_and_counters_stay_out_and_photos_only_when_asked(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    await fill(runtime)
    file = tmp_path / "b.jsonl.gz"
    await backup.take(raw, store.keys, file, blobs)
    with gzip.open(file, "rt", encoding="utf-8") as lines:
        found = [json.loads(line) for line in lines][1:-1]
    names = [line.get("k") for line in found]
    assert any(str(n).endswith(":pledges") for n in names) and "secret" not in names  # fixed
    assert not [n for n in names if str(n).endswith((":session", ":photo", ":lock"))]
    assert not [n for n in names if ":seen:" in str(n) or str(n).startswith("rate:")]
    assert not [line for line in found if "blob" in line]  # the claim photo stays out
    await backup.take(raw, store.keys, file, blobs, evidence=True)
    with gzip.open(file, "rt", encoding="utf-8") as lines:
        assert [json.loads(line).get("blob") for line in lines][-2] == "claims/1.jpg"


def test_what_each_kind_of_key_is_to_a_backup() -> None:
    keys = Keys("tp:")
    for kept in (
        keys.pledges("wechat:o{x}"),
        keys.consent("telegram:1"),
        keys.secret(),
        keys.audit(),
        keys.order("T1"),
        keys.slot("3", "booked"),
        keys.jobs("outbox"),
        keys.wechat_active(),
        keys.people("2026-03-12"),
        "tp:some:future:record",
    ):
        assert keys.kept(kept) is Kept.RECORD, kept
    for passing in (
        keys.session("telegram:1"),
        keys.lock("telegram:1"),
        keys.seen("telegram:1", "9"),
        keys.reply("wechat:o", "9"),
        keys.rate("telegram:1"),
        keys.upload("telegram:1"),
        keys.address_rate("1.2.3.4"),
        keys.console_session("s"),
        keys.login_failures("acct:ops"),
        keys.worker("w1"),
        keys.pace("telegram", "all"),
        keys.mass_quota("2026-03"),
        keys.delivered("1-0"),
        keys.wechat_token_lock(),
        f"{keys.wechat_token_prefix()}:wx1_access_token",
        keys.migration(),
    ):
        assert keys.kept(passing) is Kept.PASSING, passing
    assert keys.kept(keys.claim("7", "photo")) is Kept.EVIDENCE


async def test_bad_files_and_a_full_store_are_refused_and_nothing_changes(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    await fill(runtime)
    good = tmp_path / "good.jsonl.gz"
    await backup.take(raw, store.keys, good, blobs, evidence=True)
    with pytest.raises(CommandError, match="already holds keys"):
        await backup.restore(raw, store.keys, good, blobs)
    kept = await snapshot(raw, store.keys)
    await store.delete_prefix()
    whole = good.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    unzipped = gzip.decompress(whole).decode().splitlines()
    headless = tmp_path / "headless.jsonl.gz"
    headless.write_bytes(gzip.compress("\n".join(unzipped[1:]).encode()))
    endless = tmp_path / "endless.jsonl.gz"
    endless.write_bytes(gzip.compress("\n".join(unzipped[:-1]).encode()))
    header = json.loads(unzipped[0])
    newer = tmp_path / "newer.jsonl.gz"
    newer.write_bytes(gzip.compress(json.dumps(header | {"format": 2}).encode()))
    other = tmp_path / "other.jsonl.gz"
    other.write_bytes(
        gzip.compress("\n".join([json.dumps(header | {"prefix": "x:"}), *unzipped[1:]]).encode())
    )
    garbled = tmp_path / "garbled.jsonl.gz"
    garbled.write_bytes(
        gzip.compress("\n".join([unzipped[0], "{not json", *unzipped[1:]]).encode())
    )
    plain = tmp_path / "plain.txt"
    plain.write_text("hello")
    for bad, says in (
        (cut, "cut short"),
        (headless, "not a backup"),
        (endless, "cut short"),
        (newer, "format 2"),
        (other, "prefix 'x:'"),
        (garbled, "damaged at line 2"),
        (plain, "cut short or damaged"),
        (tmp_path / "missing.gz", "no such file"),
    ):
        with pytest.raises(CommandError, match=says):
            await backup.restore(raw, store.keys, bad, blobs)
        assert await snapshot(raw, store.keys) == {}, bad.name
    await backup.restore(raw, store.keys, other, blobs, other_prefix=True)
    assert await snapshot(raw, store.keys) == kept


async def test_force_replaces_the_keys_of_the_backup_and_keeps_the_others(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    await fill(runtime)
    file = tmp_path / "b.jsonl.gz"
    await backup.take(raw, store.keys, file, blobs)
    before = await picture(runtime)
    await chat(runtime, "b3").pledge(
        "jinkui", "donation", "200", "王五"
    )  # after the backup: stays, as a key of its own
    await runtime.store.redis.set(store.keys.pledge_owner("late"), "test:b9")
    await backup.restore(raw, store.keys, file, blobs, force=True)
    assert await picture(runtime) == before  # b3's pledges are the backup's again
    assert await runtime.store.redis.get(store.keys.pledge_owner("late")) == "test:b9"


async def test_big_collections_come_in_chunks_and_bytes_survive(
    store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    members = {f"telegram:{n}": n for n in range(2500)}
    await store.redis.zadd(store.keys.wechat_active(), members)
    await store.redis.sadd(store.keys.subscribers("telegram"), *members)
    await store.redis.hset(store.keys.admins(), mapping=dict.fromkeys(members, "x"))
    await store.redis.rpush(store.keys.jobs("list"), *members)
    for n in range(2500):
        await store.redis.xadd(store.keys.audit(), {"what": f"a{n}"})
    await raw.set(store.keys.claim("1", "record"), bytes(range(256)))
    await store.redis.pfadd(store.keys.people("2026-03-12"), *members)
    kept = await snapshot(raw, store.keys)
    file = tmp_path / "b.jsonl.gz"
    taken = await backup.take(raw, store.keys, file, blobs)
    assert taken.items > len(kept)  # the big ones in several lines
    await store.delete_prefix()
    await backup.restore(raw, store.keys, file, blobs)
    assert await snapshot(raw, store.keys) == kept
    assert await store.redis.pfcount(store.keys.people("2026-03-12")) == pytest.approx(2500, 0.02)


async def test_nightly_backup_once_a_day_after_its_hour_by_one_worker_newest_kept(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    await fill(runtime)
    folder = tmp_path / "backups"
    first, second = (Nightly(raw, store, blobs, folder, keep=2, hour=3) for _ in range(2))
    zone = runtime.catalog.timezone
    assert await first.due(datetime(2026, 3, 12, 2, 59, tzinfo=zone)) is None
    made = await first.due(datetime(2026, 3, 12, 3, 0, tzinfo=zone))
    assert made is not None and backup.check(made).items > 10
    assert await second.due(datetime(2026, 3, 12, 4, 0, tzinfo=zone)) is None  # taken today
    assert await first.due(datetime(2026, 3, 12, 5, 0, tzinfo=zone)) is None
    for day in (13, 14):
        assert await second.due(datetime(2026, 3, day, 3, 30, tzinfo=zone)) is not None
    assert sorted(p.name for p in folder.iterdir()) == [
        "backup-20260313-033000.jsonl.gz",
        "backup-20260314-033000.jsonl.gz",
    ]


async def test_a_line_that_cannot_be_written_is_named(
    store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    header = {"backup": backup.WHAT, "format": 1, "prefix": store.prefix, "taken_at": "now"}
    bad = tmp_path / "bad.jsonl.gz"
    lines = [header, {"k": "x", "t": "string", "v": {"b64": "%%%"}}, {"end": True, "items": 1}]
    bad.write_bytes(gzip.compress("\n".join(json.dumps(line) for line in lines).encode()))
    with pytest.raises(CommandError, match="line 2 cannot be written"):
        await backup.restore(raw, store.keys, bad, blobs)
    headless = tmp_path / "headless.jsonl.gz"
    headless.write_bytes(gzip.compress(json.dumps({"backup": backup.WHAT, "format": 1}).encode()))
    with pytest.raises(CommandError, match="lacks the prefix"):
        await backup.restore(raw, store.keys, headless, blobs)


async def test_a_pledge_copied_without_its_index_keys_is_indexed_again(
    runtime: Runtime, store: Store, raw: redis.Redis, tmp_path: Path, blobs: DirectoryBlobs
) -> None:
    await fill(runtime)
    serials = [p.serial for p in await runtime.pledges.of_user(UserKey("test:b2")) if p.serial]
    (serial,) = serials
    pledge = await runtime.pledges.by_serial(serial)
    assert pledge is not None
    withdrawn = store.keys.certificate("WX2026-GONE-000000")
    await store.redis.set(withdrawn, "withdrawn")
    file = tmp_path / "b.jsonl.gz"
    await backup.take(raw, store.keys, file, blobs)
    lines = gzip.decompress(file.read_bytes()).decode().splitlines()
    missed = {f"cert:{serial}", f"pledge:{pledge.id}"}  # as if written after the scan passed
    kept = [line for line in lines[1:-1] if json.loads(line)["k"] not in missed]
    assert len(kept) == len(lines) - 4
    end = json.dumps({"end": True, "items": len(kept)})
    file.write_bytes(gzip.compress("\n".join([lines[0], *kept, end]).encode()))
    await store.delete_prefix()
    restored = await backup.restore(raw, store.keys, file, blobs)
    assert restored.remade == 2
    again = await runtime.pledges.by_serial(serial)
    assert again is not None and again.id == pledge.id
    assert await store.redis.get(store.keys.pledge_owner(pledge.id)) == "test:b2"
    assert await store.redis.get(withdrawn) == "withdrawn"
