"""Stored records are kept for years: a record written by an older version loads (migrated),
one from a newer version is refused rather than half-read, and statuses come back typed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from bot.errors import StoreError
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.admins import Account
from bot.services.consent import Consent, from_record
from bot.services.pledges import Pledge, PledgeStatus
from bot.store.claims import Claim
from bot.store.jobs import Notice
from bot.store.payments import Order
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


RECORDS = [  # one of each kind, with Chinese text, statuses, nested events and params
    Pledge.from_json(json.dumps(OLD_PLEDGE)),  # two events in its history, after migration
    Booking("3", "K7M2Q9TA", BookingStatus.ATTENDED, "张三", "zh", "7K3M9Q2TAB"),
    Notice("telegram:42", "pledge.expired", {"reason": "未付款", "n": 3}, "WX2026-1"),
    Claim("C1", UserKey("web:a"), "7K3M9Q2TAB", "jinkui", "adoption", "2026-03-12", "种在湖边"),
    Order("O1", UserKey("wechat:o"), "7K3M9Q2TAB", 10_000, "义务植树 捐款", 1, 2),
    Account("李四", "reviewer", "$argon2id$v=19$m=65536", "2026-03-12", disabled=True),
    Consent(1, "2026-03-12T01:00:00+00:00", "adult"),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_are_written_as_they_always_were(record: Any) -> None:
    """The stored form (orjson, straight from the dataclass) is, byte for byte, what
    json.dumps(asdict(...)) wrote before, and reads back the same."""
    as_before = json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":"))
    assert record.to_json() == as_before
    read = from_record if isinstance(record, Consent) else type(record).from_json
    assert read(record.to_json()) == record


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
