"""GET /admin: the dashboard: tiles and charts for a period (by default the last 30 days and
the days ahead that slots can be booked for, so the coming slots count in the fill) and a base
(a base manager always sees their own)."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from aiohttp import web

from bot.runtime import Runtime
from bot.services.admins import Section
from bot.services.stats import Dashboard, Period
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import render

DEFAULT_DAYS = 30


def period_of(request: web.Request, viewer: Viewer, runtime: Runtime) -> Period:
    """The period and base asked for (a missing or bad date: the default period's)."""
    today = datetime.now(runtime.catalog.timezone).date()
    ahead = timedelta(days=runtime.catalog.volunteering.booking_days_ahead)
    last = _day(request.query.get("to")) or today + ahead
    first = _day(request.query.get("from")) or min(last, today) - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    base: str | None = request.query.get("base", "")
    if viewer.role.kind == "base":
        base = viewer.role.base
    elif runtime.catalog.base(base or "") is None:
        base = None
    return Period(first, last, base)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the dashboard."""
    dashboard = Dashboard(runtime.store, runtime.catalog, runtime.bookings)

    @guard(Section.DASHBOARD)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        period = period_of(request, viewer, runtime)
        figures = await dashboard.figures(period, int(time.time()))
        catalog = runtime.catalog
        locale = viewer.locale
        today = datetime.now(catalog.timezone).date().isoformat()
        past = [day for day in figures.per_day if day[0] <= today]  # the days ahead hold none
        charts = {
            "days": [d for d, _, _ in past],
            "pledges": [p for _, p, _ in past],
            "trees": [t for _, _, t in past],
            "bases": [[catalog.base_name(b, locale), n] for b, n in figures.by_base.items()],
            "forms": [[catalog.form_name(f, locale), n] for f, n in figures.by_form.items()],
            "fill": [
                [catalog.base_name(b, locale), round(f * 100)]
                for b, f in figures.fill_by_base.items()
            ],
        }
        return render(
            request,
            "console/dashboard.html",
            viewer,
            locale,
            figures=figures,
            charts=charts,
            bases=[(b.id, catalog.base_name(b.id, locale)) for b in catalog.bases],
        )

    app.router.add_get("", page)
