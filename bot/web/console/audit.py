"""GET /admin/audit: the audit log, newest first, a page of 100 at a time."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Runtime
from bot.services.admins import Section
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import render

PAGE = 100


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the audit page."""

    @guard(Section.AUDIT)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        before = request.query.get("before", "+")
        if before != "+" and not before.replace("-", "").isdigit():
            before = "+"
        entries = await runtime.audit.entries(PAGE + 1, f"({before}" if before != "+" else "+")
        more = entries[PAGE - 1][0] if len(entries) > PAGE else ""  # the last shown
        local = runtime.catalog.local
        rows = [
            {
                "at": local(e["at"]).strftime("%Y-%m-%d %H:%M:%S") if e.get("at") else "",
                **{k: e.get(k, "") for k in ("who", "what", "detail", "where")},
            }
            for _, e in entries[:PAGE]
        ]
        return render(request, "console/audit.html", viewer, viewer.locale, rows=rows, more=more)

    app.router.add_get("/audit", page)
