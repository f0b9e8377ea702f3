"""Payments for pledges fulfilled by paying: WeChat Pay when the operator configured a merchant
account, otherwise a link to the official donation page with a reference code, reconciled from
the receipts the operator imports.

The money belongs to the official channel (the China Green Foundation); the bot takes none of
its own. Every notification, query answer and receipt comes here already verified by its
adapter and is checked against the order and the pledge; a payment fulfils its pledge once,
however often it is reported. Nothing paid is lost: a payment that cannot fulfil its pledge (it
came late, or for a cancelled pledge) is recorded and flagged for an admin.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from bot import i18n, metrics
from bot.catalog import Catalog, Fulfilment
from bot.errors import CommandError
from bot.model import N_, Msg, UserKey, immutable
from bot.services import serials, signing
from bot.services.pledges import Event, Pledge, Pledges, PledgeStatus, now_iso
from bot.store import Store
from bot.store.claims import FORGOTTEN
from bot.store.jobs import JobKind
from bot.store.payments import Order, OrderStatus, Receipt

PURPOSE = "pay"
QUERY_AFTER_S = 300  # an order not notified this long after it was made is asked about
MAX_QUERY_GAP_S = 3600  # and asked again at growing gaps up to this
REFERENCE_LENGTH = 8
BATCH = 200  # receipts matched per round


class Mode(StrEnum):
    """How donations are paid."""

    WECHAT_PAY = "wechat_pay"  # a merchant account the operator configured
    LINK_OUT = "link_out"  # the official donation page, reconciled from receipts
    DEMO = "demo"  # a newcomer's machine: the pay page's one button pays (config.demo_payments)


class Outcome(StrEnum):
    """What a payment report did."""

    FULFILLED = "fulfilled"
    ALREADY = "already"  # reported before: nothing more to do
    IGNORED = "ignored"  # not a success (yet)
    FLAGGED = "flagged"  # recorded, but an admin should look at it
    REFUSED = "refused"  # does not match its order: nothing changed


SUCCESS = "SUCCESS"  # WeChat Pay's state of a payment (trade_state) or refund once money moved
DEMO = "demo"  # the demo payment's order kind and transaction id (histories: payment:demo)


@immutable
class Report:
    """A verified payment report (a notification or a query answer)."""

    out_trade_no: str
    trade_state: str
    amount_fen: int
    mchid: str
    appid: str
    transaction_id: str = ""
    success_time: str = ""

    @property
    def paid(self) -> bool:
        """Whether the money was paid."""
        return self.trade_state == SUCCESS


@immutable
class Refunded:
    """A verified refund report."""

    out_trade_no: str
    out_refund_no: str
    status: str

    @property
    def done(self) -> bool:
        """Whether the money went back."""
        return self.status == SUCCESS


class Gateway(Protocol):
    """WeChat Pay as the payments service uses it (bot/channels/wechat/pay.py)."""

    async def native(self, order: Order) -> str:
        """Make a Native order; its code_url."""

    async def jsapi(self, order: Order, openid: str) -> dict[str, str]:
        """Make a JSAPI order; the signed parameters for WeixinJSBridge."""

    async def query(self, out_trade_no: str) -> Report | None:
        """What WeChat Pay says of an order (None if it does not know it)."""

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid order."""

    async def refund(self, order: Order, out_refund_no: str, reason: str) -> None:
        """Ask for a refund of a paid order."""


@immutable
class Merchant:
    """The WeChat Pay merchant account the operator configured."""

    mchid: str
    appid: str


@immutable
class Checkout:
    """What the citizen does to pay: open `link` (WeChat Pay), or pay on the official page
    (`donation_url`) writing `reference` in the remark."""

    amount_yuan: int
    link: str = ""
    reference: str = ""
    donation_url: str = ""
    demo: bool = False  # the link opens the demo pay page


class Flag(StrEnum):
    """Why money waits for an admin (`flag.*` names it in words); stored with the payment."""

    UNKNOWN_ORDER = "unknown_order"
    MERCHANT = "merchant_mismatch"
    AMOUNT = "amount_mismatch"
    NO_PLEDGE = "paid_no_pledge"  # paid for a pledge that is gone
    LATE = "paid_late"  # paid after the pledge expired: fulfilled, looked at
    NOT_WAITING = "paid_not_waiting"  # paid for a pledge already fulfilled, cancelled, ...
    UNKNOWN_REFUND = "unknown_refund"
    RECEIPT_NOT_WAITING = "receipt_not_waiting"
    RECEIPT_SHORT = "receipt_short"


@immutable
class Miss:
    """Why a receipt fulfilled nothing, in words for any reader: `kind` names it in a
    summary (`receipts.miss_KIND`), `why` says it for one line."""

    UNKNOWN: ClassVar[str] = "unknown"  # no pledge has its reference
    TAKEN: ClassVar[str] = "taken"  # the pledge waits no more
    SHORT: ClassVar[str] = "short"  # less than the pledge's price

    kind: str
    why: Msg


def miss_kind(kind: str) -> Msg:
    """A kind of miss, as a summary names it ("unknown reference")."""
    return Msg(f"receipts.miss_{kind}")


@dataclass
class ImportReport:
    """What a receipts import did: counts, and the first LISTED lines that did not match (the
    official channel's receipts include every donor, most of whom never used the bot)."""

    LISTED: ClassVar[int] = 200

    fulfilled: int = 0
    already: int = 0
    not_matched: Counter[str] = field(default_factory=Counter)  # by Miss kind
    unmatched: list[tuple[int, Receipt, Miss]] = field(default_factory=list)

    def miss(self, line: int, receipt: Receipt, miss: Miss) -> None:
        """A receipt that matched no waiting pledge."""
        self.not_matched[miss.kind] += 1
        if len(self.unmatched) < self.LISTED:
            self.unmatched.append((line, receipt, miss))


class Payments:
    """The payments service."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        pledges: Pledges,
        secret: str,
        public_base_url: str,
        donation_url: str = "",
        merchant: Merchant | None = None,
        demo: bool = False,
    ) -> None:
        self.store = store.payments
        self.jobs = store.jobs
        self.catalog = catalog
        self.pledges = pledges
        self.secret = secret
        self.public_base_url = public_base_url
        self.donation_url = donation_url
        self.merchant = merchant
        self.demo = demo and merchant is None
        self.gateway: Gateway | None = None  # attached by the adapter when it opens

    @property
    def mode(self) -> Mode:
        """WeChat Pay when a merchant account is configured, the demo on a newcomer's
        machine, else link-out."""
        if self.merchant is not None:
            return Mode.WECHAT_PAY
        return Mode.DEMO if self.demo else Mode.LINK_OUT

    def attach(self, gateway: Gateway | None) -> None:
        """Use this WeChat Pay client (None: detach it)."""
        self.gateway = gateway

    def _gateway(self) -> Gateway:
        if self.gateway is None:
            raise CommandError("WeChat Pay is configured but its client is not open here")
        return self.gateway

    def price_yuan(self, pledge: Pledge) -> int:
        """What the pledge costs."""
        form = self.catalog.form(pledge.form)
        return self.catalog.price_yuan(form, pledge.trees, pledge.amount_yuan) if form else 0

    # -- checking out ------------------------------------------------------------------------

    def reference_for(self, form_id: str) -> str:
        """A fresh reference code for a pledge of this form about to be confirmed, when it
        will be paid on the official page (link-out); else "". The pledge claims it as it is
        recorded, saving checkout the round trips of giving it one afterwards."""
        form = self.catalog.form(form_id)
        paid = form is not None and self.catalog.way(form) == Fulfilment.PAYMENT
        return serials.new_id(REFERENCE_LENGTH) if paid and self.mode == Mode.LINK_OUT else ""

    async def checkout(self, pledge: Pledge) -> Checkout:
        """How to pay for a pledge: an order and its pay link, or a reference code; made
        once and given again."""
        amount = self.price_yuan(pledge)
        if self.mode == Mode.LINK_OUT:
            reference = pledge.reference or await self._reference(pledge)
            return Checkout(amount, reference=reference, donation_url=self.donation_url)
        order = await self._open_order(pledge, amount)
        return Checkout(amount, link=self.pay_link(order), demo=self.mode == Mode.DEMO)

    async def _reference(self, pledge: Pledge) -> str:
        while True:
            code = serials.new_id(REFERENCE_LENGTH)
            if await self.store.keep_reference(code, pledge.user_key, pledge.id):
                break
        event = Event(now_iso(), "reference", "system", code)
        await self.pledges.note(pledge.user_key, pledge.id, event, reference=code)
        return code

    async def _open_order(self, pledge: Pledge, amount_yuan: int) -> Order:
        current = await self.store.order(pledge.order) if pledge.order else None
        if current is not None and current[0].status == OrderStatus.OPEN:
            return current[0]
        attempt = int(pledge.order.removeprefix(f"TP{pledge.id}") or 0) + 1 if pledge.order else 1
        now = int(time.time())
        base = self.catalog.base_name(pledge.base, "zh")
        form = self.catalog.form_name(pledge.form, "zh")
        order = Order(
            out_trade_no=f"TP{pledge.id}{attempt}",
            user_key=pledge.user_key,
            pledge_id=pledge.id,
            amount_fen=amount_yuan * 100,
            description=f"全民义务植树 {base} {form}"[:40],
            created=now,
            expires=max(pledge.due, now + 3600),
        )
        await self.store.create_order(order)
        event = Event(now_iso(), "order", "system", order.out_trade_no)
        await self.pledges.note(pledge.user_key, pledge.id, event, order=order.out_trade_no)
        await self.jobs.schedule(JobKind.ORDER, order.out_trade_no, now + QUERY_AFTER_S)
        return order

    def pay_link(self, order: Order) -> str:
        """The pay page's address for an order, signed, working until the order expires."""
        token = signing.sign(self.secret, PURPOSE, f"{order.out_trade_no}.{order.expires}")
        return f"{self.public_base_url}/pay/{token}"

    async def order_of(self, token: str) -> Order | None:
        """The order a pay page token stands for, while it has not expired."""
        value = signing.unsign(self.secret, PURPOSE, token)
        out_trade_no, _, expires = (value or "").rpartition(".")
        if not out_trade_no or not expires.isdigit() or int(expires) < time.time():
            return None
        found = await self.store.order(out_trade_no)
        return found[0] if found else None

    async def native(self, order: Order) -> Order:
        """The order made at WeChat Pay as a Native order (a QR code to scan), once."""
        if order.code_url:
            return order
        code_url = await self._gateway().native(order)
        metrics.ORDERS.labels("native").inc()
        return await self._update(order, kind="native", code_url=code_url)

    async def jsapi(self, order: Order, openid: str) -> dict[str, str]:
        """The signed parameters to pay an order inside WeChat (JSAPI)."""
        params = await self._gateway().jsapi(order, openid)
        if not order.kind:
            metrics.ORDERS.labels("jsapi").inc()
            await self._update(order, kind="jsapi")
        return params

    async def _update(self, order: Order, **fields: Any) -> Order:
        found = await self.store.order(order.out_trade_no)
        if found is None:
            return order
        current, raw = found
        new = replace(current, **fields)
        return new if await self.store.replace_order(raw, new) else current

    # -- being paid --------------------------------------------------------------------------

    async def paid(self, report: Report) -> Outcome:
        """A payment report, verified by its adapter: checked against the order, then the
        pledge fulfilled once."""
        found = await self.store.order(report.out_trade_no)
        if found is None:
            await self._flag(Flag.UNKNOWN_ORDER, report.out_trade_no)
            return Outcome.REFUSED
        order, raw = found
        merchant = self.merchant
        if merchant is not None and (report.mchid, report.appid) != (
            merchant.mchid,
            merchant.appid,
        ):
            await self._flag(Flag.MERCHANT, f"{order.out_trade_no} {report.mchid}")
            return Outcome.REFUSED
        if not report.paid:
            return Outcome.IGNORED
        if report.amount_fen != order.amount_fen:
            sent, due = report.amount_fen / 100, order.amount_fen / 100
            detail = f"{order.out_trade_no} ¥{sent:.2f} ≠ ¥{due:.2f}"
            await self._flag(Flag.AMOUNT, detail)
            return Outcome.REFUSED
        if order.status not in (OrderStatus.OPEN, OrderStatus.CLOSED):
            return Outcome.ALREADY
        paid = replace(
            order,
            status=OrderStatus.PAID,
            transaction_id=report.transaction_id,
            paid_at=report.success_time or now_iso(),
        )
        if not await self.store.replace_order(raw, paid):
            return Outcome.ALREADY  # another report of the same payment won
        await self.jobs.drop(JobKind.ORDER, order.out_trade_no)
        return await self._fulfil(
            order.user_key, order.pledge_id, f"payment:{report.transaction_id}"
        )

    async def forget(self, pledges: list[Pledge]) -> int:
        """The payment records of these pledges stay (accounting) but no longer name their
        citizen, who deleted their data; their reference codes go. How many orders."""
        await self.store.drop_references([p.reference for p in pledges if p.reference])
        count = 0
        for pledge in pledges:
            found = await self.store.order(pledge.order) if pledge.order else None
            if found is not None:
                order, raw = found
                await self.store.replace_order(raw, replace(order, user_key=UserKey(FORGOTTEN)))
                count += 1
        return count

    async def demo_pay(self, order: Order) -> Outcome:
        """The demo pay page's button: the order paid through the same path as a verified
        WeChat Pay notification, recorded as `demo`; refused unless in demo mode."""
        if self.mode != Mode.DEMO:
            return Outcome.REFUSED
        if order.status == OrderStatus.OPEN and not order.kind:
            order = await self._update(order, kind=DEMO)
        report = Report(
            out_trade_no=order.out_trade_no,
            trade_state=SUCCESS,
            amount_fen=order.amount_fen,
            mchid="",
            appid="",
            transaction_id=DEMO,
            success_time=now_iso(),
        )
        return await self.paid(report)

    async def _fulfil(self, user: UserKey, pledge_id: str, by: str) -> Outcome:
        done = await self.pledges.fulfil(user, pledge_id, by, late=True)
        if done is None:
            await self._flag(Flag.NO_PLEDGE, f"{pledge_id} {by}")
            return Outcome.FLAGGED
        late = any(e.what == "expired" for e in done.pledge.history)
        if done.changed and not late:
            return Outcome.FULFILLED
        why = Flag.LATE if done.changed else Flag.NOT_WAITING
        await self._flag(why, f"{pledge_id} {by} ({done.pledge.status})")
        await self.pledges.note(user, pledge_id, Event(now_iso(), "flagged", by, why), flagged=why)
        return Outcome.FLAGGED

    async def _flag(self, what: Flag, detail: str) -> None:
        await self.store.flag(what, detail, int(time.time()))

    async def flagged(self, locale: str, limit: int = 100) -> list[str]:
        """The latest flagged payments, newest first: why (in `locale`) and which."""
        lines = (line.partition("\n") for line in await self.store.flagged(limit))
        return [f"{i18n.word('flag', what, locale)}: {detail}" for what, _, detail in lines]

    async def check(self, out_trade_no: str, now: int) -> Outcome:
        """Ask WeChat Pay what became of an order that was not notified; close it at its
        expiry, or ask again later."""
        found = await self.store.order(out_trade_no)
        if found is None or found[0].status != OrderStatus.OPEN:
            return Outcome.IGNORED
        order = found[0]
        report = await self._gateway().query(out_trade_no) if order.kind else None
        if report is not None and report.paid:
            return await self.paid(report)
        if now >= order.expires:
            await self.close(order)
        else:
            await self.jobs.schedule(JobKind.ORDER, out_trade_no, _next_check(order, now))
        return Outcome.IGNORED

    async def close(self, order: Order) -> None:
        """Close an unpaid order (at WeChat Pay too)."""
        if order.status != OrderStatus.OPEN:
            return
        if order.kind:
            await self._gateway().close(order.out_trade_no)
        await self._update(order, status=OrderStatus.CLOSED)
        await self.jobs.drop(JobKind.ORDER, order.out_trade_no)

    async def close_for(self, pledge: Pledge) -> None:
        """A pledge expired or was cancelled: its open order is closed."""
        found = await self.store.order(pledge.order) if pledge.order else None
        if found is not None:
            await self.close(found[0])

    # -- refunds -----------------------------------------------------------------------------

    async def refund(self, pledge_id: str, reason: str, by: str) -> Order:
        """Ask WeChat Pay to refund a paid pledge; its refund notification revokes the
        certificate. Raises CommandError naming what stands in the way."""
        if not reason.strip():
            raise CommandError("a refund needs a reason (--reason)")
        owner = await self.pledges.store.pledges.owner(pledge_id)
        pledge = await self.pledges.get(owner, pledge_id) if owner else None
        if owner is None or pledge is None:
            raise CommandError(f"there is no pledge {pledge_id!r}")
        found = await self.store.order(pledge.order) if pledge.order else None
        if found is None or found[0].status != OrderStatus.PAID:
            raise CommandError(f"pledge {pledge_id} was not paid through WeChat Pay here")
        order, _ = found
        refund_no = f"RF{order.out_trade_no}"
        await self._gateway().refund(order, refund_no, reason)
        order = await self._update(
            order, status=OrderStatus.REFUNDING, refund_no=refund_no, refund_reason=reason
        )
        await self.pledges.note(owner, pledge_id, Event(now_iso(), "refund_requested", by, reason))
        return order

    async def refunded(self, report: Refunded) -> Outcome:
        """A refund went through: the order is refunded and the pledge revoked, once."""
        found = await self.store.order(report.out_trade_no)
        if found is None or found[0].refund_no != report.out_refund_no:
            await self._flag(Flag.UNKNOWN_REFUND, f"{report.out_trade_no} {report.out_refund_no}")
            return Outcome.REFUSED
        order, raw = found
        if not report.done:
            return Outcome.IGNORED
        if order.status == OrderStatus.REFUNDED:
            return Outcome.ALREADY
        if not await self.store.replace_order(raw, replace(order, status=OrderStatus.REFUNDED)):
            return Outcome.ALREADY
        await self.pledges.end(
            order.user_key,
            order.pledge_id,
            PledgeStatus.REVOKED,
            "payment:refund",
            order.refund_reason,
        )
        return Outcome.FULFILLED

    # -- receipts (link-out) -----------------------------------------------------------------

    async def import_receipts(
        self, receipts: Iterable[tuple[int, Receipt]], dry_run: bool = False
    ) -> ImportReport:
        """Match imported receipts (line number, receipt) to pledges by reference and amount
        and fulfil them; a receipt imported before changes nothing. `dry_run`: only say what
        an import would do (the console's preview)."""
        report = ImportReport()
        batch: list[tuple[int, Receipt]] = []
        for item in receipts:
            batch.append(item)
            if len(batch) >= BATCH:
                await self._import_batch(batch, report, dry_run)
                batch = []
        if batch:
            await self._import_batch(batch, report, dry_run)
        return report

    async def _import_batch(
        self, batch: list[tuple[int, Receipt]], report: ImportReport, dry_run: bool
    ) -> None:
        """Take each receipt once (two imports at once never both use one), match it, and
        give back the ones that fulfilled nothing, so a corrected file can match them later."""
        receipts = [r for _, r in batch]
        if dry_run:
            firsts = [not seen for seen in await self.store.receipts_seen(receipts)]
        else:
            firsts = await self.store.take_receipts(receipts)
        owners = await self.store.by_reference([r.reference for r in receipts])
        unused: list[Receipt] = []
        work = []
        for (line, receipt), first, owner in zip(batch, firsts, owners, strict=True):
            if not first:
                report.already += 1
            elif owner is None:
                report.miss(line, receipt, _UNKNOWN)
                unused.append(receipt)
            else:
                work.append(self._receipt(line, receipt, *owner, report, dry_run))
        for receipt, used in await asyncio.gather(*work):
            if not used:
                unused.append(receipt)
        if not dry_run:
            await self.store.give_back_receipts(unused)

    async def _receipt(
        self,
        line: int,
        receipt: Receipt,
        user: UserKey,
        pledge_id: str,
        report: ImportReport,
        dry_run: bool,
    ) -> tuple[Receipt, bool]:
        """Fulfil the receipt's pledge; whether the receipt was used."""
        pledge = await self.pledges.get(user, pledge_id)
        miss, flag = _mismatch(receipt, pledge, self.price_yuan(pledge) if pledge else 0)
        if miss is not None:
            report.miss(line, receipt, miss)
            if flag and not dry_run:
                await self._flag(*flag)
            return receipt, False
        if dry_run:
            report.fulfilled += 1
            return receipt, True
        outcome = await self._fulfil(user, pledge_id, f"receipt:{receipt.receipt_no}")
        if outcome in (Outcome.FULFILLED, Outcome.FLAGGED):
            report.fulfilled += 1
            return receipt, True
        return receipt, False


_UNKNOWN = Miss(Miss.UNKNOWN, Msg(N_("receipts.miss_unknown")))


def _mismatch(
    receipt: Receipt, pledge: Pledge | None, price: int
) -> tuple[Miss | None, tuple[Flag, str] | None]:
    """Why a receipt does not fulfil its pledge (None when it does), and what to flag."""
    told = f"{receipt.reference} {receipt.receipt_no} ¥{receipt.amount_yuan}"
    if pledge is None:
        return _UNKNOWN, None
    if pledge.status not in (PledgeStatus.PLEDGED, PledgeStatus.EXPIRED):
        status = Msg(f"status.{pledge.status}")
        taken = Miss(Miss.TAKEN, Msg(N_("receipts.miss_taken_why"), {"status": status}))
        return taken, (Flag.RECEIPT_NOT_WAITING, f"{told} ({pledge.status})")
    if receipt.amount_yuan < price:
        figures = {"paid": receipt.amount_yuan, "price": price}
        short = Miss(Miss.SHORT, Msg(N_("receipts.miss_short_why"), figures))
        return short, (Flag.RECEIPT_SHORT, f"{told} < ¥{price}")
    return None, None


def _next_check(order: Order, now: int) -> int:
    """When to ask about an unpaid order again: never made at WeChat Pay (the page was not
    opened), at its expiry; otherwise after as long again as it has been open, from 5 minutes
    to an hour."""
    if not order.kind:
        return order.expires
    wait = min(MAX_QUERY_GAP_S, max(QUERY_AFTER_S, now - order.created))
    return min(order.expires, now + wait)
