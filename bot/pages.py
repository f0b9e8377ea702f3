"""Public certificate pages: GET /verify/{serial} and GET /certificates/{serial}.png.

Verification shows only what a certificate already shows, with the name masked (张*丰). An
unknown, forged or malformed serial gets the same 404 page, which reveals nothing.
"""

from __future__ import annotations

from aiohttp import web

from bot.catalog import Catalog
from bot.certificates import Certificates
from bot.pledges import Pledge, Pledges
from bot.templating import page, request_locale

IMAGE_MAX_AGE = 24 * 3600


def mask_name(name: str) -> str:
    """张三丰 → 张*丰, 张三 → 张*, Jane Doe → J******e: enough to recognise, not to identify."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


class CertificatePages:
    """The pages a certificate's QR code and its download link open."""

    def __init__(self, pledges: Pledges, catalog: Catalog, certificates: Certificates) -> None:
        self.pledges = pledges
        self.catalog = catalog
        self.certificates = certificates

    async def _pledge(self, request: web.Request) -> Pledge | None:
        return await self.pledges.by_serial(request.match_info["serial"])

    async def verify(self, request: web.Request) -> web.Response:
        """The verification page a certificate's QR code opens."""
        locale = request_locale(request)
        pledge = await self._pledge(request)
        if pledge is None:
            return page("not_found.html", locale, status=404, what="certificate")
        local = self.catalog.local(pledge.created)
        return page(
            "verify.html",
            locale,
            serial=pledge.serial,
            name=mask_name(pledge.name),
            year=local.year,
            date=local.date().isoformat(),
            base=self.catalog.base_name(pledge.base, locale),
            form=self.catalog.form_name(pledge.form, locale),
            trees=pledge.trees,
            amount=pledge.amount_yuan,
        )

    async def image(self, request: web.Request) -> web.Response:
        """The certificate PNG; the same bytes every time, so caches may keep it."""
        pledge = await self._pledge(request)
        if pledge is None:
            return page("not_found.html", request_locale(request), status=404, what="certificate")
        png = await self.certificates.png_of(pledge)
        headers = {
            "Cache-Control": f"public, max-age={IMAGE_MAX_AGE}",
            "ETag": f'"{pledge.serial}"',
        }
        if "download" in request.query:
            headers["Content-Disposition"] = f'attachment; filename="{pledge.serial}.png"'
        return web.Response(body=png, content_type="image/png", headers=headers)


def setup(app: web.Application, pages: CertificatePages) -> None:
    """Add the certificate routes."""
    app.router.add_get("/verify/{serial}", pages.verify)
    app.router.add_get("/certificates/{serial}.png", pages.image)
