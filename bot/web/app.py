"""The aiohttp application: web chat, Telegram and WeChat callbacks, certificate pages, health
and metrics, over one Runtime.

`serve(settings)` opens the runtime (Redis, embedded or not) and the channels, runs the
worker's loops inside the process unless told not to, and closes it all on SIGTERM/SIGINT
after in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from bot import i18n, logs
from bot.channels import web as web_chat
from bot.channels.platforms import open_channels, open_gateway
from bot.channels.port import Port
from bot.channels.telegram import inbound as telegram
from bot.channels.wechat import inbound as wechat
from bot.channels.wechat import subscribe as wechat_subscribe
from bot.config import Settings
from bot.errors import StoreError
from bot.loop import new_loop, settle
from bot.model import N_
from bot.ops.embedded import redis_address
from bot.render import fonts
from bot.runtime import Runtime, open_runtime
from bot.services.openbooks import OpenBooks
from bot.templating import page, request_locale
from bot.web import console, health, pay, privacy, teams, verify
from bot.web import open as open_books
from bot.web.banner import start_lines
from bot.web.supervisor import inherited_socket, polls_telegram
from bot.worker.loop import work

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # WeChat's limit; the web chat keeps its own, smaller one
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SHUTDOWN_TIMEOUT_S = 10.0
PORT = web.AppKey("port", Port)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each request gets an id (the proxy's X-Request-Id when it sends one), in every log line
    written while it is handled and in the answer's X-Request-Id."""
    rid = logs.new_request_id(request.headers.get("X-Request-Id"))
    token = logs.REQUEST_ID.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as answer:  # redirects and the like are answers too
        answer.headers["X-Request-Id"] = rid
        raise
    finally:
        logs.REQUEST_ID.reset(token)
    response.headers["X-Request-Id"] = rid
    return response


PUBLIC_CSP = (  # the console sends its own, stricter one
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self' https://*.qq.com; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
PUBLIC_HEADERS = {
    "Content-Security-Policy": PUBLIC_CSP,  # no inline script, never framed (clickjacking)
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@web.middleware
async def public_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer carries a CSP (unless it has its own), nosniff and a referrer policy."""
    response = await handler(request)
    if not response.prepared:  # a streamed export has sent its headers already
        for name, value in PUBLIC_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


@web.middleware
async def friendly_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths get a page in the visitor's language; faults are logged and apologised for.
    Bad input never reaches here as a fault: handlers answer it with a 4xx themselves."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return page("not_found.html", request_locale(request), status=404, what="page")
    except web.HTTPException:
        raise
    except StoreError:
        log.warning("store unavailable for %s %s", request.method, request.path, exc_info=True)
        return _apology(request, 503)
    except Exception:
        log.exception("request failed: %s %s", request.method, request.path)
        return _apology(request, 500)


def _apology(request: web.Request, status: int) -> web.Response:
    """A page in the visitor's language for a browser asking for a page, else JSON."""
    locale = request_locale(request)
    if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
        return page("unavailable.html", locale, status=status)
    return web.json_response({"error": i18n.text(N_("error.internal"), locale)}, status=status)


async def _channels(
    settings: Settings, runtime: Runtime, app: web.Application
) -> AsyncIterator[None]:
    """The configured platforms, serving while the app runs."""
    async with (
        open_gateway(runtime, settings) as gateway,
        open_channels(runtime, settings) as channels,
        contextlib.AsyncExitStack() as stack,
    ):
        if gateway is not None:
            app[pay.GATEWAY] = gateway
        if channels.telegram is not None:
            channel = telegram.TelegramChannel(
                runtime.engine, channels.telegram, runtime.store.users, settings
            )
            polling = not settings.telegram_webhook_secret and polls_telegram()
            await stack.enter_async_context(telegram.serving(app, channel, polling))
        if settings.wechat_token:
            callbacks = wechat.WeChatChannel(
                runtime.engine, runtime.store, settings, channels.wechat, runtime.pledges.secret
            )
            await stack.enter_async_context(wechat.serving(app, callbacks))
        app[PORT] = channels.port
        yield


async def _worker(
    settings: Settings, runtime: Runtime, app: web.Application
) -> AsyncIterator[None]:
    """The worker's loops in this process, through the app's port (and a second one paced
    for appeals); stopped, and waited for, before the channels close."""
    stop = asyncio.Event()
    async with open_channels(runtime, settings, appeals=True) as appeals:
        working = asyncio.create_task(work(runtime, app[PORT], appeals.port, stop))
        yield
        stop.set()
        await working


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/chat")


async def _favicon(request: web.Request) -> web.StreamResponse:
    """Browsers (and WeChat's) ask for /favicon.ico whatever the page links."""
    return web.FileResponse(STATIC_DIR / "favicon.png", headers={"Cache-Control": "max-age=86400"})


async def _first_admin(runtime: Runtime, settings: Settings, app: web.Application) -> None:
    """ADMIN_PASSWORD with no account yet: the first `city` account, named admin."""
    if await runtime.admins.bootstrap(settings.admin_password):
        log.warning("created the console account 'admin' (city) from ADMIN_PASSWORD")


def create_app(settings: Settings, runtime: Runtime, *, worker: bool = False) -> web.Application:
    """The application over an open runtime (the caller closes the runtime); `settings` says
    which channels it opens, `worker` whether the worker's loops run inside it."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[request_ids, public_headers, friendly_errors],
    )
    app.cleanup_ctx.append(partial(_channels, settings, runtime))
    if worker:
        app.cleanup_ctx.append(partial(_worker, settings, runtime))
    app.on_startup.append(partial(_first_admin, runtime, settings))
    secret = runtime.pledges.secret
    https = settings.public_base_url.startswith("https://")
    chat = web_chat.WebChat(
        runtime.engine, runtime.store.turns, secret, settings.trusted_proxies, https
    )
    web_chat.setup(app, chat)
    telegram.setup(app)
    wechat.setup(app)
    wechat_subscribe.setup(app)
    certificates = verify.CertificatePages(
        runtime.pledges, runtime.catalog, runtime.certificates, secret, runtime.teams
    )
    verify.setup(app, certificates, runtime.claims)
    privacy.setup(app, runtime.consents, runtime.mydata, runtime.catalog)
    pay.setup(app, pay.PayPages(runtime.payments, runtime.catalog, settings.wechat_app_id or ""))
    books = OpenBooks(runtime.store, runtime.catalog)
    pages = open_books.OpenPages(
        books, runtime.bookings, runtime.claims, runtime.catalog, settings.public_base_url
    )
    open_books.setup(app, pages)
    teams.setup(app, teams.TeamPages(runtime.teams, runtime.certificates, runtime.catalog))
    health.setup(app, runtime.store)
    app.add_subapp("/admin", console.application(runtime, settings))
    app.router.add_get("/", _home)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_static("/static", STATIC_DIR)
    return app


async def _serving_app(settings: Settings, worker: bool) -> web.Application:
    """The app with its own runtime, closed after everything else at shutdown."""
    stack = contextlib.AsyncExitStack()
    url = await stack.enter_async_context(redis_address(settings))
    runtime = await stack.enter_async_context(open_runtime(settings, url))
    app = create_app(settings, runtime, worker=worker)
    fonts.read_maps()
    settle()  # after everything start-up reads

    async def close_runtime(app: web.Application) -> None:
        await stack.aclose()

    app.on_startup.append(_hang_up_is_terminate)
    app.on_cleanup.append(close_runtime)
    return app


async def _hang_up_is_terminate(app: web.Application) -> None:
    """SIGHUP (the terminal closed) stops `serve` gracefully, as SIGTERM does."""
    terminate = partial(os.kill, os.getpid(), signal.SIGTERM)
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, terminate)


def serve(settings: Settings, worker: bool = True) -> None:
    """Run the web server (and, with `worker`, the worker's loops) until SIGTERM or SIGINT,
    then shut down gracefully; on the socket a `--processes` parent handed over, or on
    HOST:PORT."""
    sock = inherited_socket()
    where = {"sock": sock} if sock else {"host": settings.host, "port": settings.port}
    if sock is None:
        print("\n".join(start_lines(settings, worker)), flush=True)
    web.run_app(
        _serving_app(settings, worker),
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        print=None,
        access_log=None,
        loop=new_loop(),
        **where,
    )
