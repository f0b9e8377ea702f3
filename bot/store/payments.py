"""Payments: WeChat Pay orders (one record per attempt, changed by compare-and-set), link-out
references, imported receipts, and payments flagged for an admin."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from enum import StrEnum
from typing import ClassVar

from bot.model import UserKey, immutable
from bot.store.base import Area, call
from bot.store.keys import UPLOAD_TTL
from bot.store.records import load_record, stored_form

ORDER_VERSION = 1

# KEYS: the order. ARGV: the record as read, the new record. 1 if replaced.
_REPLACE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


class OrderStatus(StrEnum):
    """Where a WeChat Pay order stands."""

    OPEN = "open"  # made; not paid yet
    PAID = "paid"
    CLOSED = "closed"  # expired or cancelled before it was paid
    REFUNDING = "refunding"
    REFUNDED = "refunded"


@immutable
class Order:
    """One payment attempt for a pledge."""

    out_trade_no: str
    user_key: UserKey
    pledge_id: str
    amount_fen: int
    description: str
    created: int  # epoch seconds
    expires: int
    status: OrderStatus = OrderStatus.OPEN
    kind: str = ""  # native or jsapi, once WeChat Pay has it
    code_url: str = ""
    prepay_id: str = ""
    transaction_id: str = ""
    paid_at: str = ""
    refund_no: str = ""
    refund_reason: str = ""
    flagged: str = ""
    v: int = ORDER_VERSION

    def to_json(self) -> str:
        """The stored form."""
        return stored_form(self)

    @classmethod
    def from_json(cls, raw: str) -> Order:
        """Read a stored record."""
        order = load_record(cls, json.loads(raw), ORDER_VERSION)
        return replace(order, user_key=UserKey(order.user_key), status=OrderStatus(order.status))


@immutable
class Receipt:
    """One line of the official channel's receipts, as imported."""

    reference: str
    amount_yuan: int
    paid_at: str
    receipt_no: str


class PaymentStore(Area):
    """Orders, references, receipts."""

    SCRIPTS: ClassVar[Mapping[str, str]] = {"replace": _REPLACE}

    async def create_order(self, order: Order) -> bool:
        """Store a new order once (by its out_trade_no)."""
        key = self.keys.order(order.out_trade_no)
        if not await call(self.redis.set(key, order.to_json(), nx=True)):
            return False
        await call(self.redis.zadd(self.keys.orders(), {order.out_trade_no: order.created}))
        return True

    async def recent_orders(self, limit: int = 100) -> list[Order]:
        """The newest orders, newest first."""
        numbers = await call(self.redis.zrevrange(self.keys.orders(), 0, limit - 1))
        if not numbers:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for number in numbers:
            pipe.get(self.keys.order(number))
        return [Order.from_json(raw) for raw in await call(pipe.execute()) if raw]

    async def order(self, out_trade_no: str) -> tuple[Order, str] | None:
        """An order and its record as read (for a later replace), or None."""
        raw = await call(self.redis.get(self.keys.order(out_trade_no)))
        return (Order.from_json(raw), raw) if raw else None

    async def replace_order(self, read: str, new: Order) -> bool:
        """Replace an order's record if it is still `read`."""
        key = self.keys.order(new.out_trade_no)
        return bool(await self.run("replace", [key], [read, new.to_json()]))

    async def keep_reference(self, code: str, user: UserKey, pledge_id: str) -> bool:
        """Give a link-out reference to a pledge; False if the code is taken."""
        key = self.keys.reference(code)
        return bool(await call(self.redis.set(key, f"{user}\n{pledge_id}", nx=True)))

    async def drop_references(self, codes: list[str]) -> None:
        """Forget references (their owner deleted their data)."""
        if codes:
            await call(self.redis.delete(*[self.keys.reference(c) for c in codes]))

    async def by_reference(self, codes: list[str]) -> list[tuple[UserKey, str] | None]:
        """The pledge of each reference (owner and id), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for code in codes:
            pipe.get(self.keys.reference(code))
        found = await call(pipe.execute())
        return [_owner(raw) for raw in found]

    async def take_receipts(self, receipts: list[Receipt]) -> list[bool]:
        """Record each receipt once; True where this import is the first to see it."""
        pipe = self.redis.pipeline(transaction=False)
        for receipt in receipts:
            record = json.dumps(asdict(receipt), ensure_ascii=False)
            pipe.set(self.keys.receipt(receipt.receipt_no), record, nx=True)
        return [bool(x) for x in await call(pipe.execute())]

    async def receipts_seen(self, receipts: list[Receipt]) -> list[bool]:
        """Whether each receipt was imported before (nothing changes)."""
        pipe = self.redis.pipeline(transaction=False)
        for receipt in receipts:
            pipe.exists(self.keys.receipt(receipt.receipt_no))
        return [bool(x) for x in await call(pipe.execute())]

    async def give_back_receipts(self, receipts: list[Receipt]) -> None:
        """Forget receipts that matched nothing, so a later import may use them."""
        if not receipts:
            return
        pipe = self.redis.pipeline(transaction=False)  # one key each: fine on a cluster
        for receipt in receipts:
            pipe.delete(self.keys.receipt(receipt.receipt_no))
        await call(pipe.execute())

    async def keep_upload(self, upload_id: str, data: bytes) -> None:
        """Hold an uploaded receipts file for an hour (preview, then import)."""
        encoded = base64.b64encode(data).decode()
        await call(self.redis.set(self.keys.console_upload(upload_id), encoded, ex=UPLOAD_TTL))

    async def upload(self, upload_id: str) -> bytes | None:
        """An uploaded file while it is held."""
        raw = await call(self.redis.get(self.keys.console_upload(upload_id)))
        return base64.b64decode(raw) if raw else None

    async def drop_upload(self, upload_id: str) -> None:
        """Forget an uploaded file (imported)."""
        await call(self.redis.delete(self.keys.console_upload(upload_id)))

    async def flag(self, what: str, detail: str, at: int) -> None:
        """Keep a payment an admin should look at."""
        await call(self.redis.zadd(self.keys.flagged_payments(), {f"{what}\n{detail}": at}))

    async def flagged(self, limit: int = 100) -> list[str]:
        """The latest flagged payments."""
        found = await call(self.redis.zrevrange(self.keys.flagged_payments(), 0, limit - 1))
        return [str(x) for x in found]


def _owner(raw: str | None) -> tuple[UserKey, str] | None:
    if not raw:
        return None
    user, pledge_id = raw.split("\n", 1)
    return UserKey(user), pledge_id
