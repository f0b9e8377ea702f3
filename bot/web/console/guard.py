"""Who may do what in the console, checked on every request.

Every page and endpoint is registered with the section it belongs to and whether it changes
anything. A stranger is sent to the login page (a 401 for htmx and other non-page requests);
an account disabled since it logged in loses its session at its next request; a role outside
the section gets 403; an auditor posting anything gets 403; a state-changing request without
the session's CSRF token (form field `csrf` or header `X-CSRF-Token`) gets 403. Refusals that
matter go to the audit log. Every console response carries a Content-Security-Policy that
forbids inline scripts, and is never cached.
"""

from __future__ import annotations

import hmac
import html
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session

from bot import i18n
from bot.channels.http import client_address
from bot.config import Network
from bot.model import immutable
from bot.services.admins import Account, Admins, Role, Section

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
SAFE = ("GET", "HEAD", "OPTIONS")
MAX_UPLOAD = 6 * 1024 * 1024  # a form with a file (a receipts CSV, an appeal's image)


@immutable
class Viewer:
    """The admin behind a request: account, role, CSRF token, language, address."""

    account: Account
    role: Role
    csrf: str
    locale: str
    address: str
    role_words: str = ""  # the role as the header names it

    @property
    def name(self) -> str:
        """The account's name, as the audit log writes it."""
        return self.account.name


Handler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]
VIEWER = web.RequestKey("console.viewer", Viewer)


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """CSP and friends on every console response."""
    response = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def wants_page(request: web.Request) -> bool:
    """A browser navigating (not htmx, not a script)."""
    return "HX-Request" not in request.headers and "text/html" in request.headers.get("Accept", "")


class Guard:
    """Wraps console handlers with the checks above."""

    def __init__(self, admins: Admins, proxies: Sequence[Network]) -> None:
        self.admins = admins
        self.proxies = proxies

    def address(self, request: web.Request) -> str:
        """The client's address (X-Forwarded-For only from trusted proxies)."""
        return client_address(request, self.proxies)

    def __call__(self, section: Section, changes: bool = False) -> Callable[[Handler], Any]:
        """A handler of `section`; `changes`: it changes something (POST)."""

        def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def guarded(request: web.Request) -> web.StreamResponse:
                if request.content_type == "multipart/form-data":
                    request = request.clone(client_max_size=MAX_UPLOAD)
                viewer = await self.viewer(request)
                if viewer is None:
                    return self._to_login(request)
                refusal = await self._refusal(request, viewer, section, changes)
                if refusal is not None:
                    return refusal
                request[VIEWER] = viewer
                return await handler(request, viewer)

            return guarded

        return wrap

    async def viewer(self, request: web.Request) -> Viewer | None:
        """The logged-in admin, or None (a disabled account's session is ended here)."""
        session = await get_session(request)
        name = session.get("user")
        account = await self.admins.get(str(name)) if name else None
        if account is None or account.disabled:
            if name:
                session.invalidate()
            return None
        if request.query.get("lang") in i18n.LOCALES:
            session["lang"] = request.query["lang"]
        locale = str(session.get("lang") or i18n.DEFAULT_LOCALE)
        role = self.admins.role_of(account)
        csrf, address = str(session.get("csrf", "")), self.address(request)
        return Viewer(account, role, csrf, locale, address, self.admins.role_words(role, locale))

    async def _refusal(
        self, request: web.Request, viewer: Viewer, section: Section, changes: bool
    ) -> web.StreamResponse | None:
        posting = changes or request.method not in SAFE  # an auditor posts nothing at all
        if not viewer.role.enters(section) or (posting and not viewer.role.changes):
            await self.admins.audit.record(
                viewer.name, "refused", f"{request.method} {request.path}", viewer.address
            )
            return forbidden(viewer.locale)
        if request.method not in SAFE and not await self._csrf_ok(request, viewer):
            await self.admins.audit.record(
                viewer.name, "refused", f"CSRF {request.method} {request.path}", viewer.address
            )
            return forbidden(viewer.locale, "console.csrf")
        return None

    async def _csrf_ok(self, request: web.Request, viewer: Viewer) -> bool:
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            sent = str(form.get("csrf", ""))
        return bool(viewer.csrf) and hmac.compare_digest(sent.encode(), viewer.csrf.encode())

    def _to_login(self, request: web.Request) -> web.StreamResponse:
        target = request.path_qs if request.method in SAFE else "/admin"
        location = f"/admin/login?next={quote(target, safe='')}"
        if wants_page(request) or (request.method in SAFE and "HX-Request" not in request.headers):
            raise web.HTTPSeeOther(location)
        response = web.json_response({"error": "log in first"}, status=401)
        response.headers["HX-Redirect"] = location  # htmx follows it
        return response


def forbidden(locale: str, key: str = "console.forbidden") -> web.Response:
    """A plain 403 page."""
    text = html.escape(i18n.text(key, locale))
    page = f"<!doctype html><meta charset=utf-8><title>403</title><p>{text}</p>"
    return web.Response(text=page, status=403, content_type="text/html")


def new_csrf() -> str:
    """A session's CSRF token."""
    return secrets.token_urlsafe(32)
