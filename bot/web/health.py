"""For operators: GET /healthz (Redis reachable?) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from functools import partial

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from bot import metrics
from bot.errors import StoreError
from bot.store import Store
from bot.store.broadcasts import AppealStatus

APPEALS_LOOKED_AT = 50  # the most recent appeals the gauges count


async def ping(store: Store) -> bool:
    """Whether Redis answers, its round trip observed."""
    started = time.perf_counter()
    up = await store.ping()
    if up:
        metrics.REDIS_SECONDS.observe(time.perf_counter() - started)
    return up


async def observe(store: Store) -> None:
    """Set the gauges from Redis: claims waiting and the oldest's wait, the outbox and timed
    jobs, recent appeals by status and the recipients they have left."""
    count, oldest = await store.claims.queue()
    metrics.CLAIMS_WAITING.set(count)
    metrics.CLAIM_OLDEST.set(max(0.0, time.time() - oldest) if oldest else 0)
    outbox, waiting = await store.jobs.sizes()
    metrics.OUTBOX.set(outbox)
    for kind, n in waiting.items():
        metrics.SCHEDULED.labels(str(kind)).set(n)
    appeals = await store.broadcasts.recent(APPEALS_LOOKED_AT)
    for status in AppealStatus:
        metrics.APPEALS.labels(str(status)).set(sum(a.status == status for a in appeals))
    going = (AppealStatus.SCHEDULED, AppealStatus.SENDING)
    left = sum(max(0, a.total - a.done) for a in appeals if a.status in going)
    metrics.APPEAL_RECIPIENTS_LEFT.set(left)


async def serve_metrics(store: Store, request: web.Request) -> web.Response:
    """Every metric in the Prometheus text format: of this process, or under `serve
    --processes N` of all of them (prometheus-client's multiprocess mode). With Redis down the
    gauges keep their last values."""
    if await ping(store):
        with contextlib.suppress(StoreError):
            await observe(store)
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
        if await ping(store):
            return web.json_response({"status": "ok", "redis": "up", "process": process})
        body = {"status": "unavailable", "redis": "down", "process": process}
        return web.json_response(body, status=503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", partial(serve_metrics, store))
