"""Figures for the people who run the programme (`python -m bot stats`), and the period that
figures and exports (bot/services/exports.py) are asked for.

Both read every pledge (a SCAN, a user at a time), so they are for the command line, never for a
chat turn. Dates are local days in the programme's time zone; a pledge counts in the period it
was made. Exports carry no names: the platform id is left out too, only the channel is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time

from bot.catalog import Catalog, Fulfilment
from bot.errors import CommandError
from bot.services.claims import Claims
from bot.services.payments import Payments
from bot.services.pledges import Pledge, Pledges, PledgeStatus


@dataclass(frozen=True, slots=True)
class Period:
    """Local days from `first` to `last`, both included (None: open)."""

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

    def epochs(self, catalog: Catalog) -> tuple[int, int]:
        """The period as epoch seconds, first to last (open ends: 2000 and 2100)."""
        first = datetime.combine(self.first or date(2000, 1, 1), time(), catalog.timezone)
        last = datetime.combine(self.last or date(2099, 12, 31), time(), catalog.timezone)
        return int(first.timestamp()), int(last.timestamp()) + 86400 - 1


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
