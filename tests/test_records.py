"""Stored records are kept for years: a record written by an older version loads (migrated),
one from a newer version is refused rather than half-read, and statuses come back typed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pytest

from bot.errors import StoreError
from bot.model import UserKey
from bot.pledges import Pledge, PledgeStatus
from bot.runtime import Runtime
from bot.store.jobs import Notice
from bot.store.records import load_record
from bot.store.slots import Booking, BookingStatus

OLD_PLEDGE = {  # as issue 2's code wrote it
    "id": "7K3M9Q2TAB",
    "user_key": "telegram:42",
    "base": "jinkui",
    "form": "donation",
    "trees": 5,
    "amount_yuan": 100,
    "name": "张三",
    "locale": "zh",
    "created": "2026-03-12T01:00:00+00:00",
    "status": "fulfilled",
    "serial": None,
    "v": 1,
}


def test_an_old_booking_without_a_version_loads() -> None:
    booking = Booking.from_json('{"slot":"3","code":"K7M2Q9TA","status":"no_show"}')
    assert booking.status is BookingStatus.NO_SHOW and booking.v == 1 and booking.locale == "zh"


def test_a_pledge_comes_back_typed_and_ignores_fields_it_does_not_know() -> None:
    pledge = Pledge.from_json(json.dumps({**OLD_PLEDGE, "later_field": 1}))
    assert pledge.status is PledgeStatus.FULFILLED
    assert isinstance(pledge.user_key, UserKey) and pledge.user_key.channel == "telegram"
    assert Pledge.from_json(pledge.to_json()) == pledge


def test_a_pledge_is_written_as_it_always_was() -> None:
    """to_json builds the record without a deep copy; the stored form stays what asdict wrote."""
    pledge = Pledge.from_json(json.dumps(OLD_PLEDGE))
    as_before = json.dumps(asdict(pledge), ensure_ascii=False, separators=(",", ":"))
    assert len(pledge.history) == 2 and pledge.to_json() == as_before


def test_a_record_from_a_newer_version_is_refused() -> None:
    with pytest.raises(StoreError, match="newer"):
        Pledge.from_json(json.dumps({**OLD_PLEDGE, "v": 99}))
    with pytest.raises(StoreError, match="newer"):
        Notice.from_json('{"user":"web:a","key":"k","v":2}')


def test_migrations_lift_a_record_step_by_step() -> None:
    @dataclass(frozen=True)
    class Thing:
        name: str
        size: int = 0
        v: int = 3

    migrations = {
        1: lambda d: {**d, "name": d.pop("title")},
        2: lambda d: {**d, "size": len(d["name"])},
    }
    assert load_record(Thing, {"title": "鹅掌楸"}, 3, migrations) == Thing("鹅掌楸", 3, 3)
    assert load_record(Thing, {"name": "x", "size": 9, "v": 3}, 3, migrations).size == 9


async def test_an_appeal_stored_without_a_version_loads(runtime: Runtime) -> None:
    keys = runtime.store.keys
    meta = {
        "text_zh": "植树",
        "text_en": "",
        "channel": "telegram",
        "lang": "all",
        "base": "",
        "at": "0",
        "status": "done",
        "creator": "",
        "wechat_mass": "0",
        "total": "3",
        "sent": "2",
        "failed": "1",
    }
    await runtime.store.redis.hset(keys.broadcast("41", "meta"), mapping=meta)
    bc = await runtime.appeals.get("41")
    assert bc is not None and bc.v == 1 and bc.done == 3 and bc.counts["unreachable"] == 0
