"""GET /admin/certificates: find a certificate by serial or by the exact name on it; view it;
POST /admin/certificates/{serial}/revoke (with a reason the citizen is told) and
/admin/certificates/{serial}/reissue (a corrected name: same serial, next edition, the new
image sent to the citizen)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import i18n
from bot.runtime import Runtime
from bot.services import names
from bot.services.admins import Section
from bot.services.pledges import Pledge, PledgeStatus
from bot.web.console import words
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import confirmation, confirmed, render
from bot.web.verify import image_link

MAX_REASON = 200


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the certificates pages."""
    pledges = runtime.pledges
    catalog = runtime.catalog

    def card(pledge: Pledge, viewer: Viewer) -> dict[str, Any]:
        return {
            "serial": pledge.serial or "",
            "name": pledge.name,
            "status": str(pledge.status),
            "base": catalog.base_name(pledge.base, viewer.locale),
            "form": catalog.form_name(pledge.form, viewer.locale),
            "trees": pledge.trees,
            "year": catalog.local(pledge.created).year,
            "edition": pledge.edition,
            "image": f"{image_link(pledges.secret, pledge.serial or '')}&e={pledge.edition}"
            if pledge.status == PledgeStatus.FULFILLED
            else "",
            "history": [
                {"at": catalog.local_minute(e.at)} | words.event(e, viewer.locale)
                for e in pledge.history
            ],
        }

    async def find(query: str) -> list[Pledge]:
        query = query.strip()
        if not query:
            return []
        by_serial = await pledges.by_serial(query.upper())
        if by_serial is not None:
            return [by_serial]
        return await pledges.by_name(names.clean(query))

    async def show(
        request: web.Request, viewer: Viewer, query: str, status: int = 200, **extra: Any
    ) -> web.Response:
        nameless = await pledges.nameless()
        found = nameless if "nameless" in request.query else await find(query)
        return render(
            request,
            "console/certificates.html",
            viewer,
            viewer.locale,
            status,
            query=query,
            cards=[card(p, viewer) for p in found],
            nameless=len(nameless),
            **extra,
        )

    @guard(Section.CERTIFICATES)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await show(request, viewer, request.query.get("q", "")[:64])

    @guard(Section.CERTIFICATES, changes=True)
    async def revoke(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        serial = request.match_info["serial"]
        form = await request.post()
        reason = str(form.get("reason", "")).strip()[:MAX_REASON]
        pledge = await pledges.by_serial(serial)
        if pledge is None:
            return web.Response(status=404, text="no such certificate")
        if not reason:
            return await show(
                request, viewer, serial, 400, error=_t(viewer, "console.reason_needed")
            )
        if not confirmed(form):
            return confirmation(
                request,
                viewer,
                _t(viewer, "console.revoke_ask", serial=serial),
                _t(viewer, "console.revoke_consequence"),
                _t(viewer, "console.revoke"),
                f"/admin/certificates?q={serial}",
                reason=reason,
            )
        await pledges.end(
            pledge.user_key, pledge.id, PledgeStatus.REVOKED, f"console:{viewer.name}", reason
        )
        await runtime.audit.record(
            viewer.name, "certificates.revoke", f"{serial} {reason}", viewer.address
        )
        return await show(request, viewer, serial, message=_t(viewer, "console.revoked"))

    @guard(Section.CERTIFICATES, changes=True)
    async def reissue(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        serial = request.match_info["serial"]
        form = await request.post()
        name = names.clean(str(form.get("name", "")))
        reason = str(form.get("reason", "")).strip()[:MAX_REASON]
        problem = _name_problem(name, catalog.rules.max_name_chars, viewer)
        if problem:
            return await show(request, viewer, serial, 400, error=problem)
        done = await pledges.rename(serial, name, f"console:{viewer.name}", reason)
        if done is None:
            return await show(request, viewer, serial, 400, error=_t(viewer, "console.not_valid"))
        await runtime.audit.record(
            viewer.name, "certificates.reissue", f"{serial} {reason}", viewer.address
        )
        return await show(request, viewer, serial, message=_t(viewer, "console.reissued"))

    app.router.add_get("/certificates", page)
    app.router.add_post("/certificates/{serial}/revoke", revoke)
    app.router.add_post("/certificates/{serial}/reissue", reissue)


def _t(viewer: Viewer, key: str, **params: Any) -> str:
    return i18n.text(key, viewer.locale, params)


def _name_problem(name: str, limit: int, viewer: Viewer) -> str:
    """Why a corrected name will not print ("" when it will)."""
    if not name or names.only_digits(name):
        return _t(viewer, "console.name_needed")
    if len(name) > limit:
        return _t(viewer, "console.name_too_long", max=limit)
    missing = names.unprintable(name)
    if missing:
        return _t(viewer, "console.name_unprintable", char=missing)
    return ""
