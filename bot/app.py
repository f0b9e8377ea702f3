"""The aiohttp application: web chat, certificate pages, health and metrics, over one Runtime.

`create_app(settings)` opens the runtime (Redis, embedded or not) in a cleanup context, so
`python -m bot serve` closes everything on SIGTERM/SIGINT after in-flight requests finish.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from bot import i18n, ops, pages
from bot.config import Settings
from bot.errors import StoreError
from bot.handlers import telegram, wechat
from bot.handlers import web as web_chat
from bot.model import N_
from bot.runtime import RUNTIME, Runtime, open_runtime
from bot.templating import page, request_locale

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # WeChat's limit; the web chat keeps its own, smaller one
STATIC_DIR = Path(__file__).resolve().parent / "static"
SHUTDOWN_TIMEOUT_S = 10.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    text = i18n.text(N_("error.internal"), request_locale(request))
    return web.json_response({"error": text}, status=status)


async def _runtime_context(settings: Settings, app: web.Application) -> AsyncIterator[None]:
    async with open_runtime(settings) as runtime:
        app[RUNTIME] = runtime
        yield


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/chat")


def create_app(settings: Settings, runtime: Runtime | None = None) -> web.Application:
    """The application; with `runtime` given (tests) it is used as is and not closed."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[friendly_errors])
    if runtime is None:
        app.cleanup_ctx.append(partial(_runtime_context, settings))
    else:
        app[RUNTIME] = runtime
    web_chat.setup(app)
    telegram.setup(app, settings)
    wechat.setup(app, settings)
    pages.setup(app)
    ops.setup(app)
    app.router.add_get("/", _home)
    app.router.add_static("/static", STATIC_DIR)
    return app


def serve(settings: Settings) -> None:
    """Run the web server until SIGTERM or SIGINT, then shut down gracefully."""
    print(f"Web chat: http://{settings.host}:{settings.port}/chat", flush=True)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        print=None,
        access_log=None,
    )
