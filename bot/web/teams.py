"""Teams in the open: GET /teams/{code} (a team's public page: its name, base, members by masked
name, trees pledged and fulfilled, progress to the target, how to join, the link's QR code) and
GET /teams/{code}/certificate.png (its collective certificate, once earned: it names no person)."""

from __future__ import annotations

import base64
import time
from collections import OrderedDict

from aiohttp import web

from bot.catalog import Catalog
from bot.render.qr import qr_png
from bot.services.certificates import Certificates
from bot.services.teams import Progress, Teams
from bot.templating import page, request_locale

CACHED = {"Cache-Control": "public, max-age=60"}
KEEP_S = 60.0  # a team's progress is read again at most once a minute...
KEPT = 256  # ...for at most this many teams at a time, whatever strangers ask for


class TeamPages:
    """A team's public page and its collective certificate."""

    def __init__(self, teams: Teams, certificates: Certificates, catalog: Catalog) -> None:
        self.teams = teams
        self.certificates = certificates
        self.catalog = catalog
        self._kept: OrderedDict[str, tuple[float, Progress]] = OrderedDict()

    async def _progress(self, code: str, serial: str | None = None) -> Progress | None:
        """A team's progress, a minute old at most (it reads every member's pledges); read
        afresh when it was kept before the team earned the certificate `serial`."""
        kept = self._kept.get(code)
        fresh = kept is not None and time.monotonic() - kept[0] < KEEP_S
        if kept is not None and fresh and serial in (None, kept[1].team.serial):
            return kept[1]
        team = await self.teams.get(code)
        if team is None:
            return None
        progress = await self.teams.progress(team)
        self._kept[code] = (time.monotonic(), progress)
        self._kept.move_to_end(code)
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return progress

    async def team(self, request: web.Request) -> web.Response:
        """The team's page: no personal data beyond masked names."""
        locale = request_locale(request)
        progress = await self._progress(self.teams.clean_code(request.match_info["code"]))
        if progress is None:
            return page("not_found.html", locale, status=404, what="page")
        team = progress.team
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
        progress = await self._progress(team.code, team.serial) if team and team.serial else None
        if team is None or progress is None:
            return page("not_found.html", request_locale(request), status=404, what="certificate")
        png = await self.certificates.team_png(team, len(progress.members), progress.fulfilled)
        return web.Response(body=png, content_type="image/png", headers=CACHED)


def setup(app: web.Application, pages: TeamPages) -> None:
    """Add the teams' public routes."""
    app.router.add_get("/teams/{code}", pages.team)
    app.router.add_get("/teams/{code}/certificate.png", pages.certificate)
