"""GET /admin/claims: the review queue (or what was decided), with photo, note, masked name,
base, form and trees, filtered by base and status; POST /admin/claims/{id}/approve and
/reject (with a reason). With htmx the card is replaced by its outcome; without, the page
reloads. A base manager sees and decides only their base's claims."""

from __future__ import annotations

from typing import assert_never

from aiohttp import web

from bot.runtime import Runtime
from bot.services.admins import Section
from bot.services.audit import Actor
from bot.services.claims import Decision
from bot.services.names import mask_name
from bot.store.claims import Claim, ClaimStatus
from bot.web.console import words
from bot.web.console.guard import Guard, Viewer, forbidden
from bot.web.console.render import render

LIMIT = 100
MAX_REASON = 200


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the claims pages."""
    catalog = runtime.catalog
    claims = runtime.claims

    async def card(claim: Claim, viewer: Viewer) -> dict[str, object]:
        pledge = await runtime.pledges.get(claim.user_key, claim.pledge_id)
        return {
            "id": claim.id,
            "status": str(claim.status),
            "base": catalog.base_name(claim.base, viewer.locale),
            "form": catalog.form_name(claim.form, viewer.locale),
            "trees": pledge.trees if pledge else 0,
            "name": mask_name(pledge.name) if pledge else "",
            "note": claim.note,
            "created": catalog.local_minute(claim.created),
            "decided": f"{words.actor(claim.decided_by, viewer.locale)} {claim.reason}".strip(),
            "photo": claims.photo_path(claim.id),
        }

    @guard(Section.CLAIMS)
    async def page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        status = request.query.get("status", "waiting")
        base = viewer.role.base if viewer.role.kind == "base" else request.query.get("base", "")
        found = await (claims.waiting(LIMIT) if status == "waiting" else claims.decided(LIMIT))
        shown = [
            c
            for c in found
            if (not base or c.base == base) and (status == "waiting" or c.status == status)
        ]
        return render(
            request,
            "console/claims.html",
            viewer,
            viewer.locale,
            cards=[await card(c, viewer) for c in shown],
            chosen=status,
            base=base,
            bases=[(b.id, catalog.base_name(b.id, viewer.locale)) for b in catalog.bases],
            statuses=["waiting", str(ClaimStatus.APPROVED), str(ClaimStatus.REJECTED)],
        )

    async def decide(request: web.Request, viewer: Viewer, approve: bool) -> web.StreamResponse:
        claim = await claims.get(request.match_info["id"])
        if claim is None:
            return web.Response(status=404, text="no such claim")
        if not viewer.role.sees(claim.base):
            await runtime.audit.record(viewer.name, "refused", f"claim {claim.id}", viewer.address)
            return forbidden(viewer.locale)
        form = await request.post()
        reason = str(form.get("reason", ""))[:MAX_REASON]
        actor = Actor.console(viewer.name, viewer.address)
        match await claims.decide(claim.id, approve, actor, reason):
            case Decision.DONE:
                key = "console.approved" if approve else "console.rejected"
                return _outcome(request, viewer, claim.id, key)
            case Decision.NEEDS_REASON:
                return _outcome(request, viewer, claim.id, "console.reason_needed", 400)
            case Decision.ALREADY | Decision.UNKNOWN:
                return _outcome(request, viewer, claim.id, "console.already_decided", 409)
            case _ as never:
                assert_never(never)

    @guard(Section.CLAIMS, changes=True)
    async def approve(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await decide(request, viewer, True)

    @guard(Section.CLAIMS, changes=True)
    async def reject(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await decide(request, viewer, False)

    app.router.add_get("/claims", page)
    app.router.add_post("/claims/{id}/approve", approve)
    app.router.add_post("/claims/{id}/reject", reject)


def _outcome(
    request: web.Request, viewer: Viewer, claim_id: str, key: str, status: int = 200
) -> web.StreamResponse:
    """The decided card (htmx), or back to the queue."""
    if "HX-Request" not in request.headers:
        raise web.HTTPSeeOther("/admin/claims")
    return render(
        request,
        "console/claim_done.html",
        viewer,
        viewer.locale,
        status=status,
        id=claim_id,
        key=key,
    )
