"""For operators: GET /healthz (Redis reachable?) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bot.store import Store


async def metrics(request: web.Request) -> web.Response:
    """Every metric in the Prometheus text format."""
    response = web.Response(body=generate_latest(REGISTRY))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup(app: web.Application, store: Store) -> None:
    """Add the operator routes."""

    async def healthz(request: web.Request) -> web.Response:
        """200 when Redis answers, else 503; a small JSON body either way."""
        if await store.ping():
            return web.json_response({"status": "ok", "redis": "up"})
        return web.json_response({"status": "unavailable", "redis": "down"}, status=503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
