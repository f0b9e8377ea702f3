"""Golden records: one stored record of every kind at every version it was ever written in
(`tests/golden/records/KIND-vN.json`), loaded through the code that reads them today. A change
that can no longer read old data fails here; so does a new version without its golden record."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.services import admins, consent, pledges
from bot.services.admins import Account
from bot.services.consent import AgeGroup, Consent
from bot.services.pledges import Pledge, PledgeStatus
from bot.store import broadcasts, claims, jobs, payments, slots
from bot.store.broadcasts import AppealStatus, _from_meta
from bot.store.claims import Claim, ClaimStatus
from bot.store.jobs import Notice
from bot.store.payments import Order, OrderStatus
from bot.store.records import load_record
from bot.store.slots import Booking, BookingStatus
from tests.kit.paths import TESTS

GOLDEN = TESTS / "golden" / "records"
CURRENT = {  # kind → the version today's code writes
    "pledge": pledges.RECORD_VERSION,
    "booking": slots.BOOKING_VERSION,
    "notice": jobs.NOTICE_VERSION,
    "claim": claims.CLAIM_VERSION,
    "order": payments.ORDER_VERSION,
    "account": admins.ACCOUNT_VERSION,
    "consent": consent.CONSENT_VERSION,
    "broadcast": broadcasts.BROADCAST_VERSION,
}


def golden(name: str) -> str:
    return (GOLDEN / f"{name}.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", sorted(CURRENT))
def test_every_version_of_every_kind_has_a_golden_record(kind: str) -> None:
    for version in range(1, CURRENT[kind] + 1):
        assert (GOLDEN / f"{kind}-v{version}.json").is_file(), f"add {kind}-v{version}.json"


def check_pledge_v1(raw: str) -> None:
    pledge = Pledge.from_json(raw)  # fulfilled on confirmation in version 1: kept so
    assert pledge.status is PledgeStatus.FULFILLED and pledge.serial == "WX2026-7K3M9Q2TAB-4F8A2C"
    assert [e.what for e in pledge.history] == ["pledged", "fulfilled"] and not pledge.honorary


def check_pledge_v2(raw: str) -> None:
    pledge = Pledge.from_json(raw)
    assert pledge.user_key.channel == "wechat" and pledge.edition == 1 and pledge.honorary
    assert pledge.history[-1].what == "reissued" and pledge.claim == "12"


def check_booking_v1(raw: str) -> None:
    booking = Booking.from_json(raw)
    assert booking.status is BookingStatus.ATTENDED and booking.pledge == "8N4P2R6TXA"


def check_notice_v1(raw: str) -> None:
    assert Notice.from_json(raw).params == {"reason": "照片太暗"}


def check_claim_v1(raw: str) -> None:
    claim = Claim.from_json(raw)
    assert claim.status is ClaimStatus.APPROVED and claim.decided_by == "admin:wang"


def check_order_v1(raw: str) -> None:
    order = Order.from_json(raw)
    assert order.status is OrderStatus.PAID and order.amount_fen == 10_000


def check_account_v1(raw: str) -> None:
    account = Account.from_json(raw)
    assert account.role == "reviewer" and account.password_hash.startswith("$argon2id$")


def check_consent_v1(raw: str) -> None:
    agreed = load_record(Consent, json.loads(raw), consent.CONSENT_VERSION)
    assert agreed.age_group is AgeGroup.YOUNG and agreed.complete


def check_broadcast_v1(raw: str) -> None:
    appeal = _from_meta("7", json.loads(raw))
    assert appeal.status is AppealStatus.DONE and appeal.done == appeal.total == 3


CHECKS: dict[str, Callable[[str], Any]] = {
    name.removeprefix("check_").replace("_v", "-v"): check
    for name, check in dict(globals()).items()
    if name.startswith("check_")
}


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_a_golden_record_loads_as_it_was_written(name: str) -> None:
    assert name in CHECKS, f"say what {name}.json must load as"
    CHECKS[name](golden(name))


def test_a_record_newer_than_the_code_is_refused_not_half_read() -> None:
    from bot.errors import StoreError

    newer = json.loads(golden("pledge-v2")) | {"v": pledges.RECORD_VERSION + 1}
    with pytest.raises(StoreError, match="newer than this code"):
        Pledge.from_json(json.dumps(newer))
