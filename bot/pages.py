"""Public certificate pages: GET /verify/{serial} and GET /certificates/{serial}.png.

Verification shows only what a certificate already shows, with the name masked (张*丰). An
unknown, forged or malformed serial gets the same 404 page, which reveals nothing.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.pledges import Pledge
from bot.runtime import RUNTIME
from bot.templating import page, request_locale

IMAGE_MAX_AGE = 24 * 3600


def mask_name(name: str) -> str:
    """张三丰 → 张*丰, 张三 → 张*, Jane Doe → J******e: enough to recognise, not to identify."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


async def _pledge(request: web.Request) -> Pledge | None:
    return await request.app[RUNTIME].pledges.by_serial(request.match_info["serial"])


async def verify(request: web.Request) -> web.Response:
    """The verification page a certificate's QR code opens."""
    locale = request_locale(request)
    pledge = await _pledge(request)
    if pledge is None:
        return page("not_found.html", locale, status=404, what="certificate")
    catalog = request.app[RUNTIME].catalog
    base, form = catalog.base(pledge.base), catalog.form(pledge.form)
    local = datetime.fromisoformat(pledge.created).astimezone(catalog.timezone)
    return page(
        "verify.html",
        locale,
        serial=pledge.serial,
        name=mask_name(pledge.name),
        year=local.year,
        date=local.date().isoformat(),
        base=base.name(locale) if base else pledge.base,
        form=form.name(locale) if form else pledge.form,
        trees=pledge.trees,
        amount=pledge.amount_yuan,
    )


async def certificate_image(request: web.Request) -> web.Response:
    """The certificate PNG; the same bytes every time, so caches may keep it."""
    runtime = request.app[RUNTIME]
    pledge = await _pledge(request)
    if pledge is None:
        return page("not_found.html", request_locale(request), status=404, what="certificate")
    png = await runtime.certificate_png_of(pledge)
    headers = {"Cache-Control": f"public, max-age={IMAGE_MAX_AGE}", "ETag": f'"{pledge.serial}"'}
    if "download" in request.query:
        headers["Content-Disposition"] = f'attachment; filename="{pledge.serial}.png"'
    return web.Response(body=png, content_type="image/png", headers=headers)


def setup(app: web.Application) -> None:
    """Add the certificate routes."""
    app.router.add_get("/verify/{serial}", verify)
    app.router.add_get("/certificates/{serial}.png", certificate_image)
