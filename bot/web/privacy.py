"""The privacy pages: the full notice (`/privacy`, zh and en) and a user's data download
(`/mydata/{user}.json?t=...`, behind the signed link /mydata gives, good for a day)."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from bot.catalog import Catalog
from bot.services.consent import NOTICE_VERSION, Consents
from bot.services.mydata import MyData
from bot.templating import page, request_locale


async def notice(consents: Consents, catalog: Catalog, request: web.Request) -> web.Response:
    """GET /privacy: who runs the service, what is kept, why, how long, and the user's rights."""
    locale = request_locale(request)
    return page(
        "privacy.html",
        locale,
        operator=consents.operator(locale),
        version=NOTICE_VERSION,
        years=catalog.privacy.retention_years,
        evidence_days=catalog.deadlines.evidence_days,
        age_from=catalog.privacy.age_from,
    )


async def download(mydata: MyData, request: web.Request) -> web.Response:
    """GET /mydata/{user}.json?t=...: everything kept about the user, as a JSON file."""
    user = mydata.user_of(request.match_info["user"], request.query.get("t", ""))
    if user is None:
        return page("not_found.html", request_locale(request), status=404, what="page")
    body = mydata.as_json(await mydata.collect(user))
    headers = {
        "Content-Disposition": 'attachment; filename="mydata.json"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=body, content_type="application/json", headers=headers)


def setup(app: web.Application, consents: Consents, mydata: MyData, catalog: Catalog) -> None:
    """Add /privacy and the data download."""
    app.router.add_get("/privacy", partial(notice, consents, catalog))
    app.router.add_get("/mydata/{user}.json", partial(download, mydata))
