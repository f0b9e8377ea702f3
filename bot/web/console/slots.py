"""Slots and check-in.

GET /admin/slots: a base's slots (a base manager's own base), with add, CSV import and cancel
(the volunteers are told); GET /admin/slots/{id}: its roster with each volunteer's status.
GET /admin/checkin: a phone page that reads the volunteer's QR code with the camera (the
vendored jsQR, or the browser's BarcodeDetector) and checks them in, a typed code as fallback;
POST /admin/checkin answers in a line. A code used twice is refused with the time it was first
used; a base manager checks in only at their base."""

from __future__ import annotations

import io
import time
from typing import Any

from aiohttp import web

from bot import i18n
from bot.errors import BotError
from bot.i18n import when
from bot.runtime import Runtime
from bot.services import slots as slot_input
from bot.services.admins import Section
from bot.services.bookings import CheckInStatus
from bot.services.names import mask_name
from bot.store.slots import Slot
from bot.web.console.guard import Guard, Viewer, forbidden
from bot.web.console.render import confirmation, confirmed, render

DAY = 86400
MAX_CSV = 512 * 1024
PAGE = 50  # slots a page of the table shows


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the slot and check-in pages."""
    bookings = runtime.bookings
    catalog = runtime.catalog

    def base_of(request: web.Request, viewer: Viewer, form: Any = None) -> str:
        if viewer.role.kind == "base":
            return viewer.role.base
        asked = str((form or request.query).get("base", "")) or catalog.bases[0].id
        return asked if catalog.base(asked) else catalog.bases[0].id

    def row(slot: Slot, locale: str) -> dict[str, Any]:
        return {
            "id": slot.id,
            "when": when(catalog.span(slot.start, slot.end), locale),
            "task": slot.task,
            "booked": slot.booked,
            "capacity": slot.capacity,
            "status": str(slot.status),
        }

    async def show(
        request: web.Request, viewer: Viewer, base: str, status: int = 200, **extra: Any
    ) -> web.Response:
        now = int(time.time())
        number = (
            int(request.query.get("page", "0")) if request.query.get("page", "").isdigit() else 0
        )
        found = await bookings.slots.slots(
            now - 7 * DAY, now + 120 * DAY, base, number * PAGE, PAGE + 1
        )
        return render(
            request,
            "console/slots.html",
            viewer,
            viewer.locale,
            status,
            base=base,
            rows=[row(s, viewer.locale) for s in found[:PAGE]],
            page=number,
            more=len(found) > PAGE,
            bases=[(b.id, catalog.base_name(b.id, viewer.locale)) for b in catalog.bases],
            **extra,
        )

    @guard(Section.SLOTS)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await show(request, viewer, base_of(request, viewer))

    @guard(Section.SLOTS, changes=True)
    async def add(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        base = base_of(request, viewer, form)
        day, start, end, capacity, task = (
            str(form.get(k, "")) for k in ("date", "start", "end", "capacity", "task")
        )
        try:
            slot = slot_input.parse_slot(catalog, base, day, start, end, capacity, task or None)
        except BotError as exc:
            return await show(request, viewer, base, 400, error=str(exc))
        (slot_id,) = await slot_input.add_slots(bookings, [slot])
        await runtime.audit.record(viewer.name, "slots.add", f"{slot_id} {base}", viewer.address)
        return await show(request, viewer, base, message=_t(viewer, "console.slot_added"))

    @guard(Section.SLOTS, changes=True)
    async def import_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        base = base_of(request, viewer, form)
        upload = form.get("file")
        data = b""
        if isinstance(upload, web.FileField):
            with upload.file:
                data = upload.file.read(MAX_CSV + 1)
        try:
            if not data or len(data) > MAX_CSV:
                raise BotError(_t(viewer, "console.file_needed", limit=f"{MAX_CSV // 1024} KB"))
            text = io.StringIO(slot_input.decoded(data), newline="")
            slots = slot_input.read_csv(catalog, text)
            if viewer.role.kind == "base" and any(s.base != base for s in slots):
                raise BotError(_t(viewer, "console.other_base_rows"))
        except BotError as exc:
            return await show(request, viewer, base, 400, error=str(exc))
        ids = await slot_input.add_slots(bookings, slots)
        await runtime.audit.record(
            viewer.name, "slots.import", f"{len(ids)} slots", viewer.address
        )
        return await show(
            request, viewer, base, message=_t(viewer, "console.slots_imported", n=len(ids))
        )

    @guard(Section.SLOTS, changes=True)
    async def cancel(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        slot = await bookings.slot(request.match_info["id"])
        if slot is None:
            return web.Response(status=404, text="no such slot")
        if not viewer.role.sees(slot.base):
            return forbidden(viewer.locale)
        if not confirmed(await request.post()):
            people = len(await bookings.slots.volunteers(slot.id))
            people += len(await bookings.slots.waitlist(slot.id))
            return confirmation(
                request,
                viewer,
                _t(viewer, "console.cancel_slot_ask", when=row(slot, viewer.locale)["when"]),
                _t(viewer, "console.cancel_slot_told", n=people),
                _t(viewer, "console.cancel_slot"),
                f"/admin/slots?base={slot.base}",
            )
        told = await bookings.cancel_slot(slot.id)
        await runtime.audit.record(viewer.name, "slots.cancel", slot.id, viewer.address)
        key = "console.slot_cancelled" if told is not None else "console.slot_not_open"
        return await show(request, viewer, slot.base, message=_t(viewer, key, n=told or 0))

    @guard(Section.SLOTS)
    async def roster(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        found = await bookings.roster(request.match_info["id"])
        if found is None:
            return web.Response(status=404, text="no such slot")
        if not viewer.role.sees(found.slot.base):
            return forbidden(viewer.locale)
        now = int(time.time())
        people = [
            {
                "name": mask_name(v.name) if v.name else "",
                "code": v.code,
                "state": "attended"
                if v.attended
                else ("no_show" if found.slot.end <= now else "booked"),
            }
            for v in found.volunteers
        ]
        return render(
            request,
            "console/roster.html",
            viewer,
            viewer.locale,
            slot=row(found.slot, viewer.locale),
            base=catalog.base_name(found.slot.base, viewer.locale),
            people=people,
            waiting=found.waiting,
        )

    @guard(Section.SLOTS)
    async def checkin_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return render(request, "console/checkin.html", viewer, viewer.locale)

    @guard(Section.SLOTS, changes=True)
    async def checkin(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        code = str(form.get("code", "")).strip().upper()[:32]
        found = await bookings.slots.by_code(code) if code else None
        if found is not None:
            slot = await bookings.slot(found[0])
            if slot is not None and not viewer.role.sees(slot.base):
                await runtime.audit.record(
                    viewer.name, "refused", f"checkin {code}", viewer.address
                )
                return _line(request, viewer, "console.checkin_other_base", 403)
        result = await bookings.check_in(code, int(time.time()))
        await runtime.audit.record(
            viewer.name, "checkin", f"{code} {result.status}", viewer.address
        )
        said = i18n.render(bookings.describe(result, code, viewer.locale), viewer.locale)
        return _said(request, viewer, said, CHECK_IN_STATUS.get(result.status, 409))

    app.router.add_get("/slots", page)
    app.router.add_post("/slots", add)
    app.router.add_post("/slots/import", import_csv)
    app.router.add_get("/slots/{id}", roster)
    app.router.add_post("/slots/{id}/cancel", cancel)
    app.router.add_get("/checkin", checkin_page)
    app.router.add_post("/checkin", checkin)


def _t(viewer: Viewer, key: str, **params: Any) -> str:
    return i18n.text(key, viewer.locale, params)


CHECK_IN_STATUS = {CheckInStatus.OK: 200, CheckInStatus.UNKNOWN: 404}  # the rest: 409


def _line(
    request: web.Request, viewer: Viewer, key: str, status: int = 200, **params: Any
) -> web.Response:
    """A check-in's answer from a key."""
    return _said(request, viewer, _t(viewer, key, **params), status)


def _said(request: web.Request, viewer: Viewer, text: str, status: int = 200) -> web.Response:
    """A check-in's answer: a line of HTML (htmx, the page's script) or the page again."""
    line = {"text": text, "ok": status == 200}
    partial = "X-Checkin" in request.headers or "HX-Request" in request.headers
    template = "console/checkin_line.html" if partial else "console/checkin.html"
    return render(request, template, viewer, viewer.locale, status, line=line)
