"""Teams in the console: GET /admin/teams (every team with its progress; a base's manager sees
the teams of their base), GET /admin/teams/{code} (its members and the pledges that count for
it) and GET /admin/teams/{code}.csv (the same, to download; no cell a live formula)."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from bot.runtime import Runtime
from bot.services.admins import Section
from bot.services.exports import inert
from bot.store.teams import Team
from bot.web.console.guard import Guard, Viewer
from bot.web.console.render import render

HEADER = ("member", "name", "pledge", "base", "form", "trees", "status", "created")


def setup(app: web.Application, runtime: Runtime, guard: Guard) -> None:
    """Add the teams' pages."""
    teams, catalog = runtime.teams, runtime.catalog

    async def visible(viewer: Viewer, code: str) -> Team | None:
        team = await teams.get(code)
        return team if team is not None and viewer.role.sees(team.base) else None

    @guard(Section.TEAMS)
    async def listing(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        rows: list[dict[str, Any]] = []
        for team in await teams.all():
            if viewer.role.sees(team.base):
                progress = await teams.progress(team)
                rows.append({"team": team, "progress": progress, "base": base_name(team, viewer)})
        return render(request, "console/teams.html", viewer, viewer.locale, rows=rows)

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
    app.router.add_get("/teams/{code}.csv", export)
    app.router.add_get("/teams/{code}", detail)
