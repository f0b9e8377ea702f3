"""Public pages behind serials and signed links: GET /verify/{serial}, GET
/certificates/{serial}.png, and GET /evidence/{claim}.jpg for reviewers.

Verification shows only what verification needs: the masked name (张*丰), year, base, form,
trees and status. An unknown, forged or malformed serial gets the same 404 page, which reveals
nothing. The image, with the full name, is its owner's: it is delivered in the chat, and its
link is signed and expires (`image_link`); without a valid signature the image is a 404 too.
A repeated request with its ETag gets 304 and renders nothing. A revoked certificate's page says
so, with the day; its image is no longer served (a browser keeps it at most a day).
"""

from __future__ import annotations

import time
from functools import partial

from aiohttp import web

from bot.catalog import Catalog
from bot.services import places, signing
from bot.services.certificates import Certificates
from bot.services.claims import Claims
from bot.services.names import mask_name
from bot.services.pledges import Pledge, Pledges, PledgeStatus
from bot.services.teams import Teams
from bot.templating import page, request_locale

LINK_DAYS = 7  # an image link works for this many days (to the end of the day)
PURPOSE = "certificate"
DAY_S = 86400


def image_link(secret: str, serial: str, now: float | None = None) -> str:
    """The path of a certificate's image for its owner, good for LINK_DAYS. The expiry is
    rounded to a day so the link, and so the browser's cache, stays the same all day."""
    return f"/certificates/{serial}.png?t={_token(secret, serial, now)}"


def poster_link(secret: str, serial: str, now: float | None = None) -> str:
    """The path of a certificate's share poster for its owner, signed as the image is."""
    return f"/posters/{serial}.jpg?t={_token(secret, serial, now)}"


def _token(secret: str, serial: str, now: float | None) -> str:
    expires = (int(now or time.time()) // DAY_S + LINK_DAYS + 1) * DAY_S
    return signing.sign_until(secret, PURPOSE, serial, expires)


class CertificatePages:
    """The page a certificate's QR code opens, and the image behind its owner's link."""

    def __init__(
        self,
        pledges: Pledges,
        catalog: Catalog,
        certificates: Certificates,
        secret: str,
        teams: Teams,
    ) -> None:
        self.pledges = pledges
        self.catalog = catalog
        self.certificates = certificates
        self.secret = secret
        self.teams = teams

    async def verify(self, request: web.Request) -> web.Response:
        """The verification page a certificate's QR code opens."""
        locale = request_locale(request)
        serial = request.match_info["serial"]
        pledge = await self.pledges.by_serial(serial)
        team = await self.teams.by_serial(serial) if pledge is None else None
        if team is not None:  # a team's collective certificate
            progress = await self.teams.progress(team)
            return page("verify_team.html", locale, team=team, progress=progress)
        if pledge is None:
            gone = await self.pledges.withdrawn(serial)
            return page(
                "not_found.html",
                locale,
                status=410 if gone else 404,
                what="withdrawn" if gone else "certificate",
            )
        return page(
            "verify.html",
            locale,
            serial=pledge.serial,
            name=mask_name(pledge.name),
            year=self.catalog.local(pledge.created).year,
            base=self.catalog.base_name(pledge.base, locale),
            form=self.catalog.form_name(pledge.form, locale),
            trees=pledge.trees,
            state=str(pledge.status),
            revoked=self._revoked_on(pledge),
        )

    def _revoked_on(self, pledge: Pledge) -> str:
        """The local day a certificate was revoked ("" while it is valid)."""
        if pledge.status != PledgeStatus.REVOKED:
            return ""
        at = next((e.at for e in reversed(pledge.history) if e.what == "revoked"), pledge.created)
        return self.catalog.local(at).date().isoformat()

    async def image(self, request: web.Request) -> web.StreamResponse:
        """The certificate PNG behind a signed, unexpired link; 304 when the browser has it."""
        return await self._owned(request, "png")

    async def poster(self, request: web.Request) -> web.StreamResponse:
        """The share poster (JPEG) behind a signed, unexpired link, as the image is."""
        return await self._owned(request, "poster")

    async def _owned(self, request: web.Request, kind: str) -> web.StreamResponse:
        serial = request.match_info["serial"].strip().upper()
        token = request.query.get("t", "")
        if not signing.valid_until(self.secret, PURPOSE, serial, token):
            return page("not_found.html", request_locale(request), status=404, what="certificate")
        pledge = await self.pledges.by_serial(serial)
        if pledge is None or pledge.status != PledgeStatus.FULFILLED:  # forgotten or revoked
            return page("not_found.html", request_locale(request), status=404, what="certificate")
        headers = {
            "Cache-Control": f"private, max-age={DAY_S}",
            "ETag": f'"{serial}-{pledge.edition}-{kind}"',  # a re-issued certificate is new
        }
        if request.headers.get("If-None-Match") == headers["ETag"]:
            return web.Response(status=304, headers=headers)
        suffix = "png" if kind == "png" else "jpg"
        if "download" in request.query:
            name = serial if kind == "png" else f"{serial}-share"
            headers["Content-Disposition"] = f'attachment; filename="{name}.{suffix}"'
        if kind == "png":
            body = await self.certificates.png_of(pledge)
        else:
            body = await self.certificates.poster_of(pledge)
        return web.Response(
            body=body, content_type=f"image/{'png' if kind == 'png' else 'jpeg'}", headers=headers
        )


async def evidence_photo(claims: Claims, request: web.Request) -> web.Response:
    """GET /evidence/{claim}.jpg?t=...: a claim's photo for its reviewers, behind the signed
    link `Claims.photo_link` makes; 404 without it, or once the photo is deleted."""
    claim_id = request.match_info["claim"]
    photo = None
    if claims.link_valid(claim_id, request.query.get("t", "")):
        photo = await claims.photo(claim_id)
    if photo is None:
        return page("not_found.html", request_locale(request), status=404, what="page")
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=photo, content_type="image/jpeg", headers=headers)


async def base_map(catalog: Catalog, request: web.Request) -> web.Response:
    """GET /map/{base}: to the base on Amap (a short link chats can carry)."""
    base = catalog.base(request.match_info["base"])
    if base is None:
        return page("not_found.html", request_locale(request), status=404, what="page")
    raise web.HTTPFound(places.map_link(base))


def setup(app: web.Application, pages: CertificatePages, claims: Claims) -> None:
    """Add the certificate routes and the reviewers' evidence photos."""
    app.router.add_get("/verify/{serial}", pages.verify)
    app.router.add_get("/certificates/{serial}.png", pages.image)
    app.router.add_get("/posters/{serial}.jpg", pages.poster)
    app.router.add_get("/evidence/{claim}.jpg", partial(evidence_photo, claims))
    app.router.add_get("/map/{base}", partial(base_map, pages.catalog))
