"""The admin console under /admin: server-rendered pages (aiohttp-jinja2) with htmx for
partial updates, sessions in Redis (aiohttp-session), roles, CSRF and an audit log.

`application(runtime, settings)` is /admin as an aiohttp sub-application: its sessions and
security headers run for the console alone, never for a webhook or a chat turn. The sections
live in their own modules.
"""

from __future__ import annotations

import warnings

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import session_middleware

from bot import i18n
from bot.config import Settings
from bot.runtime import Runtime
from bot.templating import environment, request_locale
from bot.web.console import (
    audit,
    broadcasts,
    certificates,
    claims,
    dashboard,
    exports,
    payments,
    slots,
    teams,
)
from bot.web.console.guard import MAX_UPLOAD, Guard, security_headers
from bot.web.console.login import Login
from bot.web.console.render import render
from bot.web.console.sessions import ConsoleStorage

# aiohttp-session 2.12 keys the request by a str, which aiohttp 3.14 warns about on every
# request; the warning says nothing about this program.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")


@web.middleware
async def upload_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A form over the upload limit gets the console's own page saying the limit."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        locale = request_locale(request)
        limit = f"{MAX_UPLOAD // 2**20} MB"
        said = i18n.text("console.too_large", locale, {"limit": limit})
        return render(request, "console/error.html", None, locale, 413, message=said)


def application(runtime: Runtime, settings: Settings) -> web.Application:
    """The console, to be mounted at /admin."""
    secure = settings.public_base_url.startswith("https://")
    storage = ConsoleStorage(runtime.store.admins, secure)
    middlewares = [session_middleware(storage), security_headers, upload_limit]
    admin = web.Application(middlewares=middlewares)
    admin[aiohttp_jinja2.APP_KEY] = environment()  # the templates every page shares
    guard = Guard(runtime.admins, settings.trusted_proxies)
    login = Login(runtime.admins, guard, runtime.pledges.secret, secure)
    admin.router.add_get("/login", login.page)
    admin.router.add_post("/login", login.submit)
    admin.router.add_post("/logout", login.logout)
    sections = (
        dashboard,
        claims,
        payments,
        slots,
        broadcasts,
        teams,
        certificates,
        exports,
        audit,
    )
    for section in sections:
        section.setup(admin, runtime, guard)
    return admin
