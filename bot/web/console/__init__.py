"""The admin console under /admin: server-rendered pages (aiohttp-jinja2) with htmx for
partial updates, sessions in Redis (aiohttp-session), roles, CSRF and an audit log.

`setup(app, runtime)` adds everything; the sections live in their own modules.
"""

from __future__ import annotations

import warnings

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_session import session_middleware

from bot.config import Settings
from bot.runtime import Runtime
from bot.web.console import (
    audit,
    broadcasts,
    certificates,
    claims,
    dashboard,
    exports,
    payments,
    render,
    slots,
)
from bot.web.console.guard import Guard, security_headers
from bot.web.console.login import Login
from bot.web.console.sessions import ConsoleStorage

# aiohttp-session 2.12 keys the request by a str, which aiohttp 3.14 warns about on every
# request; the warning says nothing about this program.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")


def middlewares(runtime: Runtime, settings: Settings) -> list[Middleware]:
    """The console's middlewares (sessions, security headers), for the app to install."""
    secure = settings.public_base_url.startswith("https://")
    storage = ConsoleStorage(runtime.store.admins, secure)
    return [session_middleware(storage), security_headers]


def setup(app: web.Application, runtime: Runtime, settings: Settings) -> None:
    """Add the console's routes."""
    render.setup(app)
    guard = Guard(runtime.admins, settings.trusted_proxies)
    secure = settings.public_base_url.startswith("https://")
    login = Login(runtime.admins, guard, runtime.pledges.secret, secure)
    app.router.add_get("/admin/login", login.page)
    app.router.add_post("/admin/login", login.submit)
    app.router.add_post("/admin/logout", login.logout)
    dashboard.setup(app, runtime, guard)
    claims.setup(app, runtime, guard)
    payments.setup(app, runtime, guard)
    slots.setup(app, runtime, guard)
    broadcasts.setup(app, runtime, guard)
    certificates.setup(app, runtime, guard)
    exports.setup(app, runtime, guard)
    audit.setup(app, runtime, guard)
