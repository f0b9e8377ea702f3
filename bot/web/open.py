"""Open books on the web: GET /open (the city's figures with charts), GET /open/figures.json and
/open/figures.csv (the same numbers as open data) and GET /bases/{id} (a base's figures this year
and last, its coming slots with places left, where it is, planting photos their citizens let
it show). Nothing on them names a person; the
figures are a minute old at most and cost the store nothing between (`services/openbooks.py`)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from aiohttp import web

from bot.catalog import Catalog
from bot.services import places
from bot.services.bookings import Bookings
from bot.services.claims import Claims
from bot.services.exports import inert
from bot.services.openbooks import OpenBooks, Tally, YearBook
from bot.templating import page, request_locale

FIRST_YEAR = 2020  # the programme's open books start here
CACHED = {"Cache-Control": "public, max-age=60"}


class OpenPages:
    """The open books' pages."""

    def __init__(
        self,
        books: OpenBooks,
        bookings: Bookings,
        claims: Claims,
        catalog: Catalog,
        public_base_url: str,
    ) -> None:
        self.books = books
        self.bookings = bookings
        self.claims = claims
        self.catalog = catalog
        self.public_base_url = public_base_url

    def _year(self, request: web.Request) -> int:
        """The year asked for (`?year=`), this year when none or a bad one is."""
        this = self.books.today().year
        asked = request.query.get("year", "")
        return int(asked) if asked.isdigit() and FIRST_YEAR <= int(asked) <= this else this

    async def city(self, request: web.Request) -> web.Response:
        """The city's figures: in all, per base, per form, per month, as charts."""
        locale = request_locale(request)
        book = await self.books.year(self._year(request))
        context = _charts(book, self.catalog, locale) | {
            "years": list(range(self.books.today().year, FIRST_YEAR - 1, -1)),
        }
        response = page("open.html", locale, **context)
        response.headers.update(CACHED)
        return response

    async def figures_json(self, request: web.Request) -> web.Response:
        """The year's figures as JSON."""
        book = await self.books.year(self._year(request))
        body = self.books.as_json(book, request_locale(request))
        return web.json_response(body, headers=CACHED | {"Access-Control-Allow-Origin": "*"})

    async def figures_csv(self, request: web.Request) -> web.Response:
        """The year's figures as CSV (UTF-8 with a BOM, as Excel opens it)."""
        book = await self.books.year(self._year(request))
        out = io.StringIO()
        writer = csv.writer(out)
        for row in self.books.rows(book, request_locale(request)):
            writer.writerow(inert(tuple(row)))
        name = f"wuxi-tree-duty-{book.year}.csv"
        headers = CACHED | {"Content-Disposition": f'attachment; filename="{name}"'}
        return web.Response(
            body=("\ufeff" + out.getvalue()).encode(),
            content_type="text/csv",
            charset="utf-8",
            headers=headers,
        )

    async def base(self, request: web.Request) -> web.Response:
        """One base in the open: what was done there this year and last, its coming slots
        with places left, its address and map link."""
        locale = request_locale(request)
        base = self.catalog.base(request.match_info["base"])
        if base is None:
            return page("not_found.html", locale, status=404, what="page")
        this = self.books.today().year
        years = []
        for year in (this, this - 1):
            book = await self.books.year(year)
            years.append((year, book.by_base.get(base.id, Tally())))
        coming = await self.bookings.upcoming(base.id, int(time.time()))
        slots = [
            {"when": self.catalog.local_minute(s.start), "task": s.task, "left": s.left}
            for s in coming.slots
        ]
        response = page(
            "open_base.html",
            locale,
            name=base.name(locale),
            about=base.about(locale),
            address=base.address(locale),
            hours=base.hours(locale),
            transport=base.transport(locale),
            map=places.short_link(base, self.public_base_url),
            years=years,
            slots=slots,
            photos=[f"/bases/{base.id}/photos/{c}.jpg" for c in await self.claims.shown(base.id)],
        )
        response.headers.update(CACHED)
        return response

    async def photo(self, request: web.Request) -> web.Response:
        """A planting photo a base's page shows: approved, and its citizen let it be shown."""
        base, claim = request.match_info["base"], request.match_info["claim"]
        photo = await self.claims.shown_photo(base, claim) if claim.isdigit() else None
        if photo is None:
            return page("not_found.html", request_locale(request), status=404, what="page")
        return web.Response(body=photo, content_type="image/jpeg", headers=CACHED)


def _charts(book: YearBook, catalog: Catalog, locale: str) -> dict[str, Any]:
    """The book laid out for the page: each chart's bars with their share of the largest."""

    def bars(items: list[tuple[str, int]]) -> list[dict[str, Any]]:
        top = max((value for _, value in items), default=0) or 1
        return [{"label": k, "value": v, "share": round(100 * v / top)} for k, v in items]

    by_base = [
        (catalog.base_name(b.id, locale), book.by_base.get(b.id, Tally()).trees)
        for b in catalog.bases
    ]
    by_form = [(catalog.form_name(f, locale), t.trees) for f, t in sorted(book.by_form.items())]
    by_month = [(f"{i}", t.pledges) for i, t in enumerate(book.by_month, start=1)]
    return {
        "year": book.year,
        "total": book.total,
        "by_base": bars(by_base),
        "by_form": bars(by_form),
        "by_month": bars(by_month),
        "trees_by_month": bars([(f"{i}", t.trees) for i, t in enumerate(book.by_month, 1)]),
    }


def setup(app: web.Application, pages: OpenPages) -> None:
    """Add the open books' routes."""
    app.router.add_get("/open", pages.city)
    app.router.add_get("/open/figures.json", pages.figures_json)
    app.router.add_get("/open/figures.csv", pages.figures_csv)
    app.router.add_get("/bases/{base}", pages.base)
    app.router.add_get("/bases/{base}/photos/{claim}.jpg", pages.photo)
