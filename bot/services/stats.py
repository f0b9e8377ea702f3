"""Figures for the people who run the programme, for a period (local days in the programme's
time zone) and a base:

- the dashboard's (`Dashboard.figures`), from counters kept as pledges change (one small hash a
  day, and a HyperLogLog of who pledged) and from the slots of the period, never from reading
  every pledge. Counters record transitions on the day they happen: a pledge made in March and
  paid in April counts as pledged in March and fulfilled in April;
- `python -m bot stats` (`stats`), which reads every pledge (a SCAN, a user at a time), so it is
  for the command line, never for a chat turn; a pledge counts in the period it was made.

The same `Period` is what exports (bot/services/exports.py) are asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.catalog import Catalog, Fulfilment
from bot.errors import CommandError
from bot.model import immutable
from bot.services.bookings import Bookings
from bot.services.claims import Claims
from bot.services.payments import Payments
from bot.services.pledges import Pledge, Pledges, PledgeStatus
from bot.store import Store

MAX_DAYS = 366  # a period longer than a year is cut to its last year
STATUSES = tuple(str(s) for s in PledgeStatus)


@immutable
class Period:
    """Local days from `first` to `last`, both included (None: open), at one base or all
    (None)."""

    first: date | None = None
    last: date | None = None
    base: str | None = None

    @classmethod
    def parse(
        cls, catalog: Catalog, first: str | None, last: str | None, base: str | None
    ) -> Period:
        """A period as typed (YYYY-MM-DD); CommandError naming what is wrong."""
        if base is not None and catalog.base(base) is None:
            known = ", ".join(b.id for b in catalog.bases)
            raise CommandError(f"unknown base {base!r}; the bases are: {known}")
        days = []
        for name, typed in (("--from", first), ("--to", last)):
            try:
                days.append(date.fromisoformat(typed) if typed else None)
            except ValueError:
                raise CommandError(f"{name} must be YYYY-MM-DD, got {typed!r}") from None
        if days[0] and days[1] and days[0] > days[1]:
            raise CommandError("--from is after --to")
        return cls(days[0], days[1], base)

    def holds(self, catalog: Catalog, pledge: Pledge) -> bool:
        """Whether a pledge was made in the period (and at the base)."""
        at_base = self.base is None or pledge.base == self.base
        return at_base and self.has_day(catalog.local(pledge.created).date())

    def has_day(self, day: date) -> bool:
        """Whether a local day is in the period."""
        return (self.first is None or day >= self.first) and (
            self.last is None or day <= self.last
        )

    @property
    def days(self) -> list[str]:
        """Each day as YYYY-MM-DD (open ends: the last year up to today)."""
        last = self.last or date.today()
        first = self.first or last - timedelta(days=MAX_DAYS - 1)
        count = min((last - first).days + 1, MAX_DAYS)
        start = last - timedelta(days=count - 1)
        return [(start + timedelta(days=i)).isoformat() for i in range(max(count, 0))]

    def epochs(self, catalog: Catalog) -> tuple[int, int]:
        """The period as epoch seconds, first to last (open ends: 2000 and 2100)."""
        first = datetime.combine(self.first or date(2000, 1, 1), time(), catalog.timezone)
        last = datetime.combine(self.last or date(2099, 12, 31), time(), catalog.timezone)
        return int(first.timestamp()), int(last.timestamp()) + 86400 - 1


@dataclass
class Figures:
    """What the dashboard shows."""

    period: Period
    participants: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    trees: int = 0
    duty_trees: int = 0  # participants × the yearly minimum
    paid_yuan: int = 0
    certificates: int = 0
    slot_fill: float | None = None  # booked / capacity of the period's slots
    no_shows: float | None = None  # of the booked at slots already over
    subscribers: dict[str, int] = field(default_factory=dict)
    per_day: list[tuple[str, int, int]] = field(default_factory=list)  # day, pledges, trees
    by_base: dict[str, int] = field(default_factory=dict)  # trees fulfilled
    by_form: dict[str, int] = field(default_factory=dict)
    fill_by_base: dict[str, float] = field(default_factory=dict)


class Dashboard:
    """Computes the figures."""

    def __init__(self, store: Store, catalog: Catalog, bookings: Bookings) -> None:
        self.store = store
        self.catalog = catalog
        self.bookings = bookings

    async def figures(self, period: Period, now: int) -> Figures:
        """The figures of a period."""
        days = period.days
        stats = await self.store.pledges.days_stats(days)
        result = Figures(period)
        result.participants = await self.store.pledges.people(days, period.base or "")
        result.duty_trees = result.participants * self.catalog.rules.duty_min_trees
        totals: Counter[str] = Counter()
        for day in days:
            counters = stats[day]
            picked = _pick(counters, period.base)
            totals.update(picked)
            result.per_day.append((day, picked["pledged"], picked["trees"]))
            for name, value in counters.items():
                _, _, where = name.partition(":")
                base, _, form = where.partition(":")
                if name.startswith("trees:") and form and (not period.base or base == period.base):
                    result.by_base[base] = result.by_base.get(base, 0) + value
                    result.by_form[form] = result.by_form.get(form, 0) + value
        result.statuses = {s: totals[s] for s in STATUSES}
        result.trees = totals["trees"]
        result.paid_yuan = totals["paid"]
        result.certificates = totals["certificates"]
        await self._slots(result, period, now)
        result.subscribers = await self.store.users.subscriber_counts()
        return result

    async def _slots(self, result: Figures, period: Period, now: int) -> None:
        start, until = period.epochs(self.catalog)
        slots = await self.bookings.slots.slots(start, until, period.base)
        slots = [s for s in slots if s.status != "cancelled"]
        capacity = sum(s.capacity for s in slots)
        booked = sum(s.booked for s in slots)
        result.slot_fill = booked / capacity if capacity else None
        over = [s for s in slots if s.end <= now]
        attended = await self.bookings.slots.attended_counts([s.id for s in over])
        over_booked = sum(s.booked for s in over)
        came = sum(attended)
        result.no_shows = (over_booked - came) / over_booked if over_booked else None
        per_base: dict[str, list[int]] = {}
        for s in slots:
            pair = per_base.setdefault(s.base, [0, 0])
            pair[0] += s.booked
            pair[1] += s.capacity
        result.fill_by_base = {b: used / cap for b, (used, cap) in per_base.items() if cap}


def _pick(counters: dict[str, int], base: str | None) -> Counter[str]:
    """A day's counters overall, or summed over one base's forms."""
    if not base:
        picked = Counter({k: v for k, v in counters.items() if ":" not in k})
        picked["pledged"] = counters.get("pledges", 0)
        return picked
    picked = Counter()
    for name, value in counters.items():
        kind, _, where = name.partition(":")
        if where.partition(":")[0] == base and where.count(":") == 1:
            picked[kind] += value
    return picked


@dataclass
class Line:
    """The figures of one base and form."""

    statuses: Counter[str] = field(default_factory=Counter)
    trees_fulfilled: int = 0
    paid_yuan: int = 0
    claims_waiting: int = 0


async def _pledges(pledges: Pledges, period: Period) -> AsyncIterator[Pledge]:
    async for pledge in pledges.every():
        if period.holds(pledges.catalog, pledge):
            yield pledge


async def stats(pledges: Pledges, payments: Payments, claims: Claims, period: Period) -> list[str]:
    """Per base and form: pledges by status, trees fulfilled, amounts paid, claims waiting."""
    lines: dict[tuple[str, str], Line] = {}
    async for pledge in _pledges(pledges, period):
        line = lines.setdefault((pledge.base, pledge.form), Line())
        line.statuses[pledge.status] += 1
        if pledge.status == PledgeStatus.FULFILLED:
            line.trees_fulfilled += pledge.trees
            if pledge.way == Fulfilment.PAYMENT:
                line.paid_yuan += payments.price_yuan(pledge)
    for claim in await claims.waiting(limit=10_000):
        claimed = await pledges.get(claim.user_key, claim.pledge_id)
        if claimed is not None and period.holds(pledges.catalog, claimed):
            lines.setdefault((claimed.base, claimed.form), Line()).claims_waiting += 1
    return _table(pledges.catalog, lines)


def _table(catalog: Catalog, lines: dict[tuple[str, str], Line]) -> list[str]:
    if not lines:
        return ["no pledges in this period"]
    statuses = [str(s) for s in PledgeStatus]
    head = ["base", "form", *statuses, "trees_fulfilled", "paid_yuan", "claims_waiting"]
    rows = [head]
    total = Line()
    for (base, form), line in sorted(lines.items()):
        rows.append(_row(catalog.base_name(base, "zh"), catalog.form_name(form, "zh"), line))
        total.statuses.update(line.statuses)
        total.trees_fulfilled += line.trees_fulfilled
        total.paid_yuan += line.paid_yuan
        total.claims_waiting += line.claims_waiting
    rows.append(_row("total", "", total))
    return ["\t".join(row) for row in rows]


def _row(base: str, form: str, line: Line) -> list[str]:
    counts = [str(line.statuses[str(s)]) for s in PledgeStatus]
    figures = [line.trees_fulfilled, line.paid_yuan, line.claims_waiting]
    return [base, form, *counts, *(str(f) for f in figures)]
