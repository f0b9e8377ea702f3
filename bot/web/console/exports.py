"""GET /admin/exports (the form) and GET /admin/exports/{kind}.{csv|xlsx}?from&to&base (or
/admin/exports/file?kind&fmt&...):
pledges, bookings, claims or payments for a period and a base, streamed as they are read (CSV
in UTF-8 with a BOM; XLSX written to a temporary file in constant memory, then streamed). A
base manager exports only their base."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.errors import BotError
from bot.runtime import Runtime
from bot.services import exports
from bot.services.admins import Section
from bot.services.stats import Period
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import render

CHUNK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the exports."""
    catalog = runtime.catalog
    folder = runtime.settings.data_dir / "exports"

    @guard(Section.EXPORTS)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(
            request,
            "console/exports.html",
            viewer,
            viewer.locale,
            kinds=[str(k) for k in exports.Kind],
            bases=[(b.id, catalog.base_name(b.id, viewer.locale)) for b in catalog.bases],
        )

    @guard(Section.EXPORTS)
    async def download(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        kind = request.match_info.get("kind") or request.query.get("kind", "")
        fmt = request.match_info.get("fmt") or request.query.get("fmt", "")
        if kind not in tuple(exports.Kind) or fmt not in ("csv", "xlsx"):
            return web.Response(status=404, text="no such export")
        base = (
            viewer.role.base if viewer.role.kind == "base" else request.query.get("base") or None
        )
        try:
            period = Period.parse(
                catalog, request.query.get("from"), request.query.get("to"), base
            )
        except BotError as exc:
            return web.Response(status=400, text=str(exc))
        export = exports.Export(exports.Kind(kind), period)
        await runtime.audit.record(
            viewer.name, "exports.download", f"{kind}.{fmt} {request.query_string}", viewer.address
        )
        name = f"{kind}-{period.first or 'all'}-{period.last or 'all'}.{fmt}"
        response = web.StreamResponse(
            headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )
        response.content_type = "text/csv" if fmt == "csv" else XLSX
        if fmt == "csv":
            response.charset = "utf-8"
            await response.prepare(request)
            async for chunk in exports.csv_chunks(exports.rows(runtime, export)):
                await response.write(chunk)
        else:
            path = await exports.xlsx_file(exports.rows(runtime, export), folder, kind)
            try:
                await response.prepare(request)
                await _stream(path, response)
            finally:
                await asyncio.to_thread(path.unlink, True)
        await response.write_eof()
        return response

    app.router.add_get("/exports", page)
    app.router.add_get("/exports/file", download)  # the form: kind and fmt as fields
    app.router.add_get("/exports/{kind}.{fmt}", download)


async def _stream(path: Path, response: web.StreamResponse) -> None:
    with path.open("rb") as source:
        while chunk := await asyncio.to_thread(source.read, CHUNK):
            await response.write(chunk)
