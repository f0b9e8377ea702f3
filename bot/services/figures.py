"""The dashboard's figures for a period and a base, from counters kept as pledges change (one
small hash a day, and a HyperLogLog of who pledged), and from the slots of the period; never
from reading every pledge.

Counters record transitions on the day they happen: a pledge made in March and paid in April
counts as pledged in March and fulfilled in April.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.catalog import Catalog
from bot.services.bookings import Bookings
from bot.services.pledges import PledgeStatus
from bot.store import Store

MAX_DAYS = 366  # a period longer than a year is cut to its last year
STATUSES = tuple(str(s) for s in PledgeStatus)


@dataclass(frozen=True, slots=True)
class Period:
    """Local days `first` to `last` (both included), at one base or all."""

    first: date
    last: date
    base: str = ""

    @property
    def days(self) -> list[str]:
        """Each day as YYYY-MM-DD."""
        count = min((self.last - self.first).days + 1, MAX_DAYS)
        start = self.last - timedelta(days=count - 1)
        return [(start + timedelta(days=i)).isoformat() for i in range(max(count, 0))]


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
        result.participants = await self.store.pledges.people(days, period.base)
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
        start = self._epoch(period.first)
        until = self._epoch(period.last + timedelta(days=1)) - 1
        slots = await self.bookings.slots.slots(start, until, period.base or None)
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

    def _epoch(self, day: date) -> int:
        return int(datetime.combine(day, time(), self.catalog.timezone).timestamp())


def _pick(counters: dict[str, int], base: str) -> Counter[str]:
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
