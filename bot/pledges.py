"""Pledge records and the one operation that fulfils a pledge and issues its certificate.

A pledge moves `pledged` → `fulfilled` (→ `cancelled`). For now confirming fulfils it; payments
and volunteering check-ins will call `fulfil` themselves later. The yearly duty is the sum of the
trees of fulfilled pledges in a calendar year (Asia/Shanghai).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from bot import metrics, serials
from bot.catalog import Catalog, Measure
from bot.model import UserKey
from bot.store import Store
from bot.store.records import load_record

RECORD_VERSION = 1


class PledgeStatus(StrEnum):
    """Where a pledge stands."""

    PLEDGED = "pledged"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Pledge:
    """One pledge: who, where, how, how much, and its certificate once fulfilled."""

    id: str
    user_key: UserKey
    base: str
    form: str
    trees: int
    amount_yuan: int
    name: str
    locale: str
    created: str  # ISO 8601, UTC
    status: PledgeStatus = PledgeStatus.PLEDGED
    serial: str | None = None
    v: int = RECORD_VERSION

    @property
    def channel(self) -> str:
        """The channel the pledge was made on."""
        return self.user_key.channel

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Pledge:
        """Read a stored record (older versions migrated)."""
        pledge = load_record(cls, json.loads(raw), RECORD_VERSION)
        return replace(
            pledge, user_key=UserKey(pledge.user_key), status=PledgeStatus(pledge.status)
        )


@dataclass(frozen=True, slots=True)
class YearSummary:
    """A user's pledges in one year and the trees they count toward the duty."""

    year: int
    pledges: tuple[Pledge, ...]
    trees: int

    @property
    def certificates(self) -> tuple[Pledge, ...]:
        """The pledges that carry a certificate."""
        return tuple(p for p in self.pledges if p.serial)


class Pledges:
    """Records pledges and serves them back (to /mine, to certificate verification)."""

    def __init__(self, store: Store, catalog: Catalog, secret: str) -> None:
        self.store = store
        self.catalog = catalog
        self.secret = secret

    def year_of(self, created: str) -> int:
        """The local calendar year of a UTC timestamp."""
        return self.catalog.local(created).year

    def fulfil(self, pledge: Pledge) -> Pledge:
        """Mark the pledge fulfilled and give it a serial when it earns a certificate."""
        form = self.catalog.form(pledge.form)
        measure = pledge.amount_yuan if form and form.measure == Measure.YUAN else pledge.trees
        earns = form is not None and self.catalog.certificate_gap(form, measure) == 0
        serial = (
            serials.issue(self.year_of(pledge.created), pledge.id, self.secret) if earns else None
        )
        return replace(pledge, status=PledgeStatus.FULFILLED, serial=serial)

    async def confirm(self, pledge: Pledge) -> Pledge:
        """Record a confirmed pledge once (idempotent by id). Today confirming fulfils, except
        volunteering, which waits for attendance."""
        form = self.catalog.form(pledge.form)
        waits = form is not None and form.measure == Measure.INTEREST
        return await self._record(pledge if waits else self.fulfil(pledge))

    async def _record(self, done: Pledge) -> Pledge:
        counters = {"pledges": 1, f"base:{done.base}": 1, f"form:{done.form}": 1}
        if done.status == PledgeStatus.FULFILLED:
            counters |= {"trees": done.trees, "yuan": done.amount_yuan}
        if done.serial:
            counters["certificates"] = 1
        created = await self.store.pledges.record(
            done.base,
            done.user_key,
            done.id,
            done.to_json(),
            done.serial,
            counters,
            self.catalog.local(done.created).date().isoformat(),
        )
        if created and done.serial:
            metrics.CERTIFICATES.inc()
        return done

    async def record_attendance(
        self, user: UserKey, base: str, trees: int, name: str, locale: str, ref: str, created: str
    ) -> Pledge:
        """Attended volunteering as a fulfilled pledge (once per `ref`); it carries a
        certificate when the year's fulfilled trees, itself included, reach the duty."""
        digest = hashlib.sha256(f"{user}\n{ref}".encode()).digest()
        pledge_id = "".join(serials.ALPHABET[b % 32] for b in digest[: serials.ID_LENGTH])
        summary = await self.year_summary(user, self.year_of(created))
        known = next((p for p in summary.pledges if p.id == pledge_id), None)
        if known is not None:
            return known
        pledge = Pledge(
            id=pledge_id,
            user_key=user,
            base=base,
            form="volunteering",
            trees=trees,
            amount_yuan=0,
            name=name or next((p.name for p in summary.pledges if p.name), ""),
            locale=locale,
            created=created,
            status=PledgeStatus.FULFILLED,
        )
        if summary.trees + trees >= self.catalog.rules.duty_min_trees:
            serial = serials.issue(self.year_of(created), pledge_id, self.secret)
            pledge = replace(pledge, serial=serial)
        return await self._record(pledge)

    async def of_user(self, user: UserKey) -> list[Pledge]:
        """All of a user's pledges."""
        return [Pledge.from_json(r) for r in (await self.store.pledges.of_user(user)).values()]

    async def year_summary(self, user: UserKey, year: int) -> YearSummary:
        """The user's pledges of `year`, newest first, and the trees fulfilled."""
        pledges = sorted(
            (p for p in await self.of_user(user) if self.year_of(p.created) == year),
            key=lambda p: p.created,
            reverse=True,
        )
        trees = sum(p.trees for p in pledges if p.status == PledgeStatus.FULFILLED)
        return YearSummary(year, tuple(pledges), trees)

    async def by_serial(self, serial: str) -> Pledge | None:
        """The pledge behind a certificate serial; None for unknown or forged serials."""
        checked = serials.verify(serial, self.secret)
        stored = await self.store.pledges.by_serial(checked) if checked else None
        return Pledge.from_json(stored.record) if stored else None

    async def forget(self, user: UserKey) -> list[Pledge]:
        """Delete all a user's pledges and certificate indexes; the pledges that went."""
        pledges = await self.of_user(user)
        issued = [p.serial for p in pledges if p.serial]
        await self.store.users.forget(user, issued, sorted({p.base for p in pledges}))
        return pledges
