"""Teams in the console: GET /admin/teams (every team with its progress; a base's manager sees
the teams of their base), POST /admin/teams (make one: its organiser is the console account,
who sees its certificate here), GET /admin/teams/{code} (its members and the pledges that count
for it) and GET /admin/teams/{code}.csv (the same, to download; no cell a live formula)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import i18n
from bot.model import N_, UserKey
from bot.runtime import Runtime
from bot.services import names
from bot.services.admins import Section
from bot.services.exports import inert
from bot.services.teams import MAX_NAME_CHARS, MAX_TARGET, Refusal
from bot.store.teams import Team
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import render

HEADER = ("member", "name", "pledge", "base", "form", "trees", "status", "created")
LIMITS = {"max": MAX_NAME_CHARS, "target": MAX_TARGET}


def team_input(raw_name: str, raw_target: str) -> tuple[str, int] | str:
    """A team's name and target as the form gave them, or the key of what is wrong."""
    name = names.clean(raw_name)
    if not name or len(name) > MAX_NAME_CHARS or names.unprintable(name) is not None:
        return N_("console.team_bad_name")
    target = raw_target.strip()
    if not target.isdigit() or not 0 < int(target) <= MAX_TARGET:
        return N_("console.team_bad_target")
    return name, int(target)


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the teams' pages."""
    teams, catalog = runtime.teams, runtime.catalog

    async def visible(viewer: Viewer, code: str) -> Team | None:
        team = await teams.get(code)
        return team if team is not None and viewer.role.sees(team.base) else None

    @guard(Section.TEAMS)
    async def listing(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await show(request, viewer)

    async def show(
        request: web.Request, viewer: Viewer, status: int = 200, error: str = ""
    ) -> web.Response:
        rows: list[dict[str, Any]] = []
        for team in await teams.all():
            if viewer.role.sees(team.base):
                progress = await teams.progress(team)
                rows.append({"team": team, "progress": progress, "base": base_name(team, viewer)})
        bases = [
            (b.id, catalog.base_name(b.id, viewer.locale))
            for b in catalog.bases
            if viewer.role.sees(b.id)
        ]
        return render(
            request,
            "console/teams.html",
            viewer,
            viewer.locale,
            status,
            rows=rows,
            bases=bases,
            any_base=viewer.role.sees(""),
            error=error,
        )

    @guard(Section.TEAMS, changes=True)
    async def create(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        form = await request.post()
        base = str(form.get("base", "")) or viewer.role.base  # a base's manager: their base
        if (base and catalog.base(base) is None) or not viewer.role.sees(base):
            raise web.HTTPForbidden
        checked = team_input(str(form.get("name", "")), str(form.get("target", "")))
        if isinstance(checked, str):
            return await show(request, viewer, 400, i18n.text(checked, viewer.locale, LIMITS))
        name, target = checked
        year = catalog.local(datetime.now(UTC)).year
        organiser = UserKey(f"console:{viewer.name}")
        made = await teams.create(organiser, name, base, target, year, joins=False)
        if isinstance(made, Refusal):  # cannot happen for staff, who join no team
            raise web.HTTPConflict
        await runtime.audit.record(
            viewer.name, "teams.create", f"{made.code} {name} {base} {target}", viewer.address
        )
        raise web.HTTPSeeOther(f"/admin/teams/{made.code}")

    @guard(Section.TEAMS)
    async def detail(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        team = await visible(viewer, request.match_info["code"])
        if team is None:
            raise web.HTTPNotFound
        progress = await teams.progress(team)
        rows = [
            {
                "member": member,
                "name": p.name if p else "",
                "pledge": p,
                "base": catalog.base_name(p.base, viewer.locale) if p else "",
                "form": catalog.form_name(p.form, viewer.locale) if p else "",
            }
            for member, p in await teams.lines(team)
        ]
        return render(
            request,
            "console/team.html",
            viewer,
            viewer.locale,
            team=team,
            progress=progress,
            base=base_name(team, viewer),
            rows=rows,
            link=teams.link(team),
        )

    @guard(Section.TEAMS)
    async def export(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        team = await visible(viewer, request.match_info["code"])
        if team is None:
            raise web.HTTPNotFound
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for member, p in await teams.lines(team):
            row = (member, "", "", "", "", "", "", "")
            if p is not None:
                row = (
                    member,
                    p.name,
                    p.id,
                    p.base,
                    p.form,
                    str(p.trees),
                    str(p.status),
                    p.created,
                )
            writer.writerow(inert(row))
        headers = {"Content-Disposition": f'attachment; filename="team-{team.code}.csv"'}
        body = ("\ufeff" + out.getvalue()).encode()
        return web.Response(body=body, content_type="text/csv", charset="utf-8", headers=headers)

    def base_name(team: Team, viewer: Viewer) -> str:
        return catalog.base_name(team.base, viewer.locale) if team.base else ""

    app.router.add_get("/teams", listing)
    app.router.add_post("/teams", create)
    app.router.add_get("/teams/{code}.csv", export)
    app.router.add_get("/teams/{code}", detail)
