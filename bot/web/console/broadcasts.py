"""Appeals: GET /admin/broadcasts (compose, recent appeals), POST /admin/broadcasts (create:
send now or at a time), POST /admin/broadcasts/audience (the audience's size, for htmx as the
form changes), POST /admin/broadcasts/preview (as Telegram and WeChat will show it), GET
/admin/broadcasts/{id} (live progress, polled by htmx until it is done) and POST
/admin/broadcasts/{id}/cancel."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiohttp import web

from bot import i18n
from bot.channels.telegram.outlet import chunks
from bot.channels.wechat.outlet import pieces
from bot.errors import BotError
from bot.runtime import Runtime
from bot.services.admins import Section
from bot.services.evidence import MAX_PHOTO_BYTES, keep
from bot.store.broadcasts import (
    AppealStatus,
    AudienceChannel,
    AudienceDuty,
    AudienceLang,
    Broadcast,
    Result,
)
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import render

MAX_TEXT = 2000


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the appeals pages."""
    appeals = runtime.appeals
    catalog = runtime.catalog

    def draft_of(form: Any, viewer: Viewer) -> Broadcast:
        at_text = str(form.get("at", "")).strip()
        at = 0
        if at_text:
            try:
                moment = datetime.fromisoformat(at_text).replace(tzinfo=catalog.timezone)
            except ValueError:
                raise BotError(i18n.text("console.bad_time", viewer.locale)) from None
            at = int(moment.timestamp())
        channel, lang = str(form.get("channel", "all")), str(form.get("lang", "all"))
        duty = str(form.get("duty", "all"))
        return Broadcast(
            id="",
            text_zh=str(form.get("text_zh", "")).strip()[:MAX_TEXT],
            text_en=str(form.get("text_en", "")).strip()[:MAX_TEXT],
            channel=AudienceChannel(channel)
            if channel in tuple(AudienceChannel)
            else AudienceChannel.ALL,
            lang=AudienceLang(lang) if lang in tuple(AudienceLang) else AudienceLang.ALL,
            base=str(form.get("base", "")) if catalog.base(str(form.get("base", ""))) else "",
            duty=AudienceDuty(duty) if duty in tuple(AudienceDuty) else AudienceDuty.ALL,
            team=str(form.get("team", ""))[:12].upper(),
            at=at,
            creator=f"console:{viewer.name}",
        )

    def row(bc: Broadcast) -> dict[str, Any]:
        total = max(bc.total, bc.done, 1)
        elapsed = max(1e-3, time.time() - bc.started) if bc.started else 0
        return {
            "id": bc.id,
            "text": bc.text_zh or bc.text_en,
            "status": str(bc.status),
            "total": bc.total,
            "done": bc.done,
            "percent": int(100 * bc.done / total),
            "counts": {str(r): bc.counts.get(r, 0) for r in Result},
            "rate": f"{bc.done / elapsed:.1f}" if elapsed else "",
            "at": catalog.local_minute(bc.at) if bc.at else "",
            "live": bc.status in (AppealStatus.SCHEDULED, AppealStatus.SENDING),
        }

    async def options(viewer: Viewer) -> dict[str, Any]:
        return {
            "teams": [(t.code, t.name) for t in await runtime.teams.all()],
            "channels": [str(c) for c in AudienceChannel],
            "langs": [str(x) for x in AudienceLang],
            "duties": [str(x) for x in AudienceDuty],
            "bases": [(b.id, catalog.base_name(b.id, viewer.locale)) for b in catalog.bases],
        }

    async def show(
        request: web.Request, viewer: Viewer, status: int = 200, **extra: Any
    ) -> web.Response:
        recent = [row(bc) for bc in await appeals.recent(30)]
        return render(
            request,
            "console/broadcasts.html",
            viewer,
            viewer.locale,
            status,
            recent=recent,
            **await options(viewer),
            **extra,
        )

    @guard(Section.BROADCASTS)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await show(request, viewer)

    @guard(Section.BROADCASTS)
    async def audience(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        try:
            size = await appeals.audience_size(draft_of(form, viewer))
        except BotError:
            size = 0
        return web.Response(text=i18n.text("console.audience", viewer.locale, {"n": size}))

    @guard(Section.BROADCASTS)
    async def preview(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        text = (
            str(form.get("text_zh", "")).strip()[:MAX_TEXT]
            or str(form.get("text_en", ""))[:MAX_TEXT]
        )
        return render(
            request,
            "console/broadcast_preview.html",
            viewer,
            viewer.locale,
            telegram=chunks(text) if text else [],
            wechat=pieces(text) if text else [],
        )

    @guard(Section.BROADCASTS, changes=True)
    async def create(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        upload = form.get("image")
        image = None
        if isinstance(upload, web.FileField):
            with upload.file:
                data = upload.file.read(MAX_PHOTO_BYTES + 1)
            if data:
                image = await keep(data, "PNG")
                if image is None:
                    return await show(
                        request, viewer, 400, error=i18n.text("console.bad_image", viewer.locale)
                    )
        try:
            bc = await appeals.create(draft_of(form, viewer), image)
        except BotError as exc:
            return await show(request, viewer, 400, error=str(exc))
        await runtime.audit.record(
            viewer.name, "broadcasts.create", f"#{bc.id} to {bc.total}", viewer.address
        )
        raise web.HTTPSeeOther(f"/admin/broadcasts/{bc.id}")

    @guard(Section.BROADCASTS)
    async def detail(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        bc = await appeals.get(request.match_info["id"])
        if bc is None:
            return web.Response(status=404, text="no such appeal")
        template = (
            "console/broadcast_progress.html"
            if "HX-Request" in request.headers
            else "console/broadcast.html"
        )
        return render(request, template, viewer, viewer.locale, bc=row(bc))

    @guard(Section.BROADCASTS, changes=True)
    async def cancel(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        bc_id = request.match_info["id"]
        cancelled = await appeals.cancel(bc_id)
        await runtime.audit.record(
            viewer.name, "broadcasts.cancel", f"#{bc_id} {cancelled}", viewer.address
        )
        raise web.HTTPSeeOther(f"/admin/broadcasts/{bc_id}")

    app.router.add_get("/broadcasts", page)
    app.router.add_post("/broadcasts", create)
    app.router.add_post("/broadcasts/audience", audience)
    app.router.add_post("/broadcasts/preview", preview)
    app.router.add_get("/broadcasts/{id}", detail)
    app.router.add_post("/broadcasts/{id}/cancel", cancel)
