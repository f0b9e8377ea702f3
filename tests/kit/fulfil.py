"""Fulfilling pledges in tests the way the programme does: a receipt imported for a paid pledge
(link-out mode: the test settings configure no merchant account), a photo approved for a
claim."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from bot.catalog import Fulfilment
from bot.model import UserKey
from bot.runtime import Runtime
from bot.services.audit import Actor
from bot.services.pledges import Pledge, PledgeStatus, name_digest
from bot.store.payments import Receipt


def photo(size: tuple[int, int] = (800, 600), color: str = "green") -> bytes:
    """A small JPEG, as a phone would send."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


async def waiting(runtime: Runtime, user: str, way: Fulfilment) -> list[Pledge]:
    return [
        p
        for p in await runtime.pledges.of_user(UserKey(user))
        if p.status == PledgeStatus.PLEDGED and p.way == way
    ]


async def pay(runtime: Runtime, user: str) -> str | None:
    """Import a receipt for each of the user's waiting paid pledges; the serial of the newest
    certificate issued (None when none was)."""
    receipts = []
    for line, pledge in enumerate(await waiting(runtime, user, Fulfilment.PAYMENT), start=2):
        checkout = await runtime.payments.checkout(pledge)
        receipt = Receipt(
            checkout.reference, checkout.amount_yuan, "2026-03-12 10:00", f"R-{pledge.id}"
        )
        receipts.append((line, receipt))
    report = await runtime.payments.import_receipts(receipts)
    assert not report.unmatched, report.unmatched
    return await newest_serial(runtime, user)


async def approve(runtime: Runtime, user: str) -> str | None:
    """Send a photo for each of the user's pledges waiting for one and approve it; the serial
    of the newest certificate issued."""
    for pledge in await runtime.claims.open_for(UserKey(user)):
        submitted = await runtime.claims.submit(UserKey(user), pledge.id, photo())
        assert not isinstance(submitted, str), submitted
        await runtime.claims.decide(submitted.claim.id, True, Actor.chat_admin("test"))
    return await newest_serial(runtime, user)


async def newest_serial(runtime: Runtime, user: str) -> str | None:
    fulfilled = [
        p
        for p in await runtime.pledges.of_user(UserKey(user))
        if p.status == PledgeStatus.FULFILLED and p.serial
    ]
    return max(fulfilled, key=lambda p: p.history[-1].at).serial if fulfilled else None


async def issued_without_a_name(runtime: Runtime, user: str) -> str:
    """A certificate as an older version issued it to a visitor who gave no name (paid, and
    the name then blank): its serial."""
    serial = await pay(runtime, user)
    assert serial is not None
    stored = await runtime.store.pledges.by_serial(serial)
    assert stored is not None
    blank = replace(Pledge.from_json(stored.record), name="")
    key = runtime.store.keys.pledges(stored.user_key)
    await runtime.store.redis.hset(key, stored.pledge_id, blank.to_json())
    await runtime.store.pledges.index_name(name_digest(""), serial)
    return serial
