"""Open books: the programme's figures for anyone, as `/open`, `/open/figures.json`,
`/open/figures.csv` and a page per base show them. Everything comes from the daily counters
(per base and form), never from people's records, so no personal data can leak; a year's book
is computed once a minute at most, whatever the traffic.

Trees pledged and trees planted are counted from this version on (older days show 0 there);
pledges, trees fulfilled, donations received and certificates from the start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

from bot.catalog import Catalog
from bot.store import Store

KEEP_S = 60.0  # how long a computed year stays fresh
COUNTERS = {  # a daily counter's kind → the tally's field
    "pledged": "pledges",
    "pledged_trees": "trees_pledged",
    "trees": "trees",
    "planted": "planted",
    "paid": "yuan",
    "certificates": "certificates",
}


@dataclass(slots=True)
class Tally:
    """What was done: pledges made, trees pledged, trees fulfilled (the duty done), trees
    planted at the base (checked in), donations received in yuan, certificates issued."""

    pledges: int = 0
    trees_pledged: int = 0
    trees: int = 0
    planted: int = 0
    yuan: int = 0
    certificates: int = 0

    def add(self, name: str, value: int) -> None:
        """Count `value` into the field `name`."""
        setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        """The tally as plain numbers, fields in order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class YearBook:
    """A year's figures: in all, per base, per form, per month (January first)."""

    year: int
    total: Tally = field(default_factory=Tally)
    by_base: dict[str, Tally] = field(default_factory=dict)
    by_form: dict[str, Tally] = field(default_factory=dict)
    by_month: list[Tally] = field(default_factory=lambda: [Tally() for _ in range(12)])


class OpenBooks:
    """The figures anyone may see, by year, kept a minute."""

    def __init__(self, store: Store, catalog: Catalog, keep_s: float = KEEP_S) -> None:
        self.store = store
        self.catalog = catalog
        self.keep_s = keep_s
        self._kept: dict[int, tuple[float, YearBook]] = {}

    def today(self) -> date:
        """Today in the programme's time zone."""
        return datetime.now(self.catalog.timezone).date()

    async def year(self, year: int) -> YearBook:
        """The year's book (this year: to today), computed at most once a minute."""
        kept = self._kept.get(year)
        if kept is not None and time.monotonic() - kept[0] < self.keep_s:
            return kept[1]
        book = await self._count(year)
        self._kept[year] = (time.monotonic(), book)
        return book

    async def _count(self, year: int) -> YearBook:
        book = YearBook(year)
        last = min(date(year, 12, 31), self.today())
        first = date(year, 1, 1)
        days = [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]
        for day, counters in (await self.store.pledges.days_stats(days)).items():
            month = book.by_month[int(day[5:7]) - 1]
            for name, value in counters.items():
                kind, _, where = name.partition(":")
                base, _, form = where.partition(":")
                tallied = COUNTERS.get(kind)
                if tallied is None or not form:
                    continue
                for tally in (
                    book.total,
                    month,
                    book.by_base.setdefault(base, Tally()),
                    book.by_form.setdefault(form, Tally()),
                ):
                    tally.add(tallied, value)
        return book

    def rows(self, book: YearBook, locale: str) -> list[list[str]]:
        """The book as a table (open data, CSV): a header, then each base and form's line,
        each month's, and the year's."""
        names = [f.name for f in fields(Tally)]
        rows = [["year", "scope", "id", "name", *names]]
        for base, tally in sorted(book.by_base.items()):
            name = self.catalog.base_name(base, locale)
            rows.append([str(book.year), "base", base, name, *_numbers(tally)])
        for form, tally in sorted(book.by_form.items()):
            name = self.catalog.form_name(form, locale)
            rows.append([str(book.year), "form", form, name, *_numbers(tally)])
        for index, tally in enumerate(book.by_month, start=1):
            month = f"{book.year}-{index:02d}"
            rows.append([str(book.year), "month", month, month, *_numbers(tally)])
        rows.append([str(book.year), "year", str(book.year), "", *_numbers(book.total)])
        return rows

    def as_json(self, book: YearBook, locale: str) -> dict[str, object]:
        """The book as open data (JSON): the same numbers as the table."""
        return {
            "year": book.year,
            "total": book.total.as_dict(),
            "bases": [
                {"id": b, "name": self.catalog.base_name(b, locale), **t.as_dict()}
                for b, t in sorted(book.by_base.items())
            ],
            "forms": [
                {"id": f, "name": self.catalog.form_name(f, locale), **t.as_dict()}
                for f, t in sorted(book.by_form.items())
            ],
            "months": [
                {"month": f"{book.year}-{i:02d}", **t.as_dict()}
                for i, t in enumerate(book.by_month, start=1)
            ],
        }


def _numbers(tally: Tally) -> list[str]:
    return [str(v) for v in tally.as_dict().values()]
