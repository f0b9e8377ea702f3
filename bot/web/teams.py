"""Teams in the open: GET /teams/{code} (a team's public page: its name, base, members by masked
name, trees pledged and fulfilled, progress to the target, how to join, the link's QR code) and
GET /teams/{code}/certificate.png (its collective certificate, once earned: it names no person)."""

from __future__ import annotations

import base64

from aiohttp import web

from bot.catalog import Catalog
from bot.render.qr import qr_png
from bot.services.certificates import Certificates
from bot.services.teams import Teams
from bot.templating import page, request_locale

CACHED = {"Cache-Control": "public, max-age=60"}


class TeamPages:
    """A team's public page and its collective certificate."""

    def __init__(self, teams: Teams, certificates: Certificates, catalog: Catalog) -> None:
        self.teams = teams
        self.certificates = certificates
        self.catalog = catalog

    async def team(self, request: web.Request) -> web.Response:
        """The team's page: no personal data beyond masked names."""
        locale = request_locale(request)
        team = await self.teams.get(request.match_info["code"])
        if team is None:
            return page("not_found.html", locale, status=404, what="page")
        progress = await self.teams.progress(team)
        qr = base64.b64encode(qr_png(self.teams.link(team))).decode()
        response = page(
            "team.html",
            locale,
            team=team,
            base=self.catalog.base_name(team.base, locale) if team.base else "",
            progress=progress,
            qr=f"data:image/png;base64,{qr}",
        )
        response.headers.update(CACHED)
        return response

    async def certificate(self, request: web.Request) -> web.Response:
        """The collective certificate (PNG); 404 until the team has earned it."""
        team = await self.teams.get(request.match_info["code"])
        if team is None or not team.serial:
            return page("not_found.html", request_locale(request), status=404, what="certificate")
        progress = await self.teams.progress(team)
        png = await self.certificates.team_png(team, len(progress.members), progress.fulfilled)
        return web.Response(body=png, content_type="image/png", headers=CACHED)


def setup(app: web.Application, pages: TeamPages) -> None:
    """Add the teams' public routes."""
    app.router.add_get("/teams/{code}", pages.team)
    app.router.add_get("/teams/{code}/certificate.png", pages.certificate)
