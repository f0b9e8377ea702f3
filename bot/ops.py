"""For operators: GET /healthz (Redis reachable?) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import os
import socket

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from bot.store import Store


async def metrics(request: web.Request) -> web.Response:
    """Every metric in the Prometheus text format: of this process, or under `serve
    --processes N` of all of them (prometheus-client's multiprocess mode)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def setup(app: web.Application, store: Store) -> None:
    """Add the operator routes."""

    async def healthz(request: web.Request) -> web.Response:
        """200 when Redis answers, else 503; a small JSON body either way."""
        process = f"{socket.gethostname()}-{os.getpid()}"  # which process answered
        if await store.ping():
            return web.json_response({"status": "ok", "redis": "up", "process": process})
        body = {"status": "unavailable", "redis": "down", "process": process}
        return web.json_response(body, status=503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
