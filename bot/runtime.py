"""Wiring: settings → Redis (given or embedded) → store, catalogue, pledges, engine, certificates.
The one place the parts are put together; every command starts from `open_runtime`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from bot.bookings import Bookings
from bot.broadcast import Broadcaster
from bot.catalog import Catalog, load_catalog
from bot.certificate import CertificateRenderer
from bot.config import Settings
from bot.conversations import FLOWS
from bot.embedded import EmbeddedRedis
from bot.engine import Engine
from bot.pledges import Pledge, Pledges
from bot.store import Store, connect
from bot.store_slots import SlotStore


@dataclass(frozen=True, slots=True)
class Runtime:
    """The running parts a channel needs."""

    settings: Settings
    redis_url: str
    store: Store
    catalog: Catalog
    pledges: Pledges
    bookings: Bookings
    broadcaster: Broadcaster
    engine: Engine
    certificates: CertificateRenderer

    async def certificate_png(self, serial: str) -> bytes | None:
        """The certificate image of a serial; None if unknown or forged."""
        pledge = await self.pledges.by_serial(serial)
        return None if pledge is None else await self.certificate_png_of(pledge)

    async def certificate_png_of(self, pledge: Pledge) -> bytes:
        """The certificate image of a pledge, rendered off the event loop."""
        return await asyncio.to_thread(self.certificates.render, pledge)


RUNTIME = web.AppKey("runtime", Runtime)


@contextlib.asynccontextmanager
async def redis_url(settings: Settings) -> AsyncIterator[str]:
    """REDIS_URL, or the embedded server for BOT_DATA_DIR (started or joined, then stopped)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    embedded = EmbeddedRedis(settings.data_dir)
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, catalog: Catalog | None = None
) -> AsyncIterator[Runtime]:
    """Start everything the bot needs and close it all on exit."""
    catalog = catalog or load_catalog()
    async with redis_url(settings) as url:
        store = Store(connect(url, settings.redis_cluster), settings.key_prefix)
        try:
            yield await build_runtime(settings, store, catalog, url)
        finally:
            await store.close()


async def build_runtime(
    settings: Settings, store: Store, catalog: Catalog, redis_url: str | None = None
) -> Runtime:
    """Put the parts together over an open store (at `redis_url`, REDIS_URL by default)."""
    secret = settings.bot_secret or await store.shared_secret()
    pledges = Pledges(store, catalog, secret)
    slots = SlotStore(store)
    bookings = Bookings(slots, catalog, pledges)
    broadcaster = Broadcaster(store, catalog, slots, settings.broadcast_rate)
    engine = Engine(store, catalog, pledges, bookings, broadcaster, FLOWS)
    renderer = CertificateRenderer(catalog, settings.public_base_url)
    url = redis_url or settings.redis_url or ""
    return Runtime(settings, url, store, catalog, pledges, bookings, broadcaster, engine, renderer)
