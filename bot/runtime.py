"""Wiring of the core: settings → Redis (given or embedded) → store, catalogue, services, engine.
No channel is opened here (see channels.py); every command starts from `open_runtime`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis

from bot.admins import Admins
from bot.appeals import Appeals
from bot.bookings import Bookings
from bot.catalog import Catalog, Localized, load_catalog
from bot.certificate import CertificateRenderer
from bot.certificates import Certificates
from bot.claims import Claims
from bot.config import Settings
from bot.consent import Consents
from bot.conversations import FLOWS
from bot.embedded import EmbeddedRedis
from bot.engine import Engine
from bot.errors import ConfigError
from bot.flow import Services
from bot.mydata import MyData
from bot.payments import Merchant, Payments
from bot.pledges import Pledges
from bot.store import Store, connect
from bot.store.durability import judge

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Runtime(Services):
    """The running core of one process: the services, and what stands behind them."""

    settings: Settings
    redis_url: str
    store: Store
    engine: Engine
    admins: Admins


@contextlib.asynccontextmanager
async def redis_url(settings: Settings) -> AsyncIterator[str]:
    """REDIS_URL, or the embedded server for BOT_DATA_DIR (started or joined, then stopped)."""
    if settings.redis_url or settings.redis_sentinels:
        yield settings.redis_url or ""
        return
    embedded = EmbeddedRedis(settings.data_dir)
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


async def ensure_durable(settings: Settings) -> None:
    """Before `serve` and `worker` start: the server behind REDIS_URL (or Sentinel) must keep
    data on disk and never evict, or the start stops saying what to set; ALLOW_VOLATILE_REDIS=1
    starts anyway, loudly. The embedded server is safe (append-only file, noeviction)."""
    if not (settings.redis_url or settings.redis_sentinels):
        return
    async with open_store(settings) as store:
        verdict = await judge(store.redis)
    for warning in verdict.warnings:
        log.warning("Redis: %s", warning)
    if not verdict.problems:
        return
    what = "; ".join(verdict.problems)
    if not settings.allow_volatile_redis:
        raise ConfigError(
            f"the Redis server cannot keep records: {what} "
            "(ALLOW_VOLATILE_REDIS=1 starts anyway, for tests and demos only)"
        )
    print(f"\n*** WARNING: ALLOW_VOLATILE_REDIS=1 and {what}\n", file=sys.stderr, flush=True)


def connect_to(settings: Settings, url: str, decode: bool = True) -> redis.Redis:
    """A client of the configured Redis at `url` (REDIS_URL or the embedded server's);
    `decode=False` answers bytes (backups)."""
    return connect(
        url,
        settings.redis_cluster,
        settings.redis_timeout,
        settings.redis_sentinels,
        settings.redis_sentinel_master,
        decode,
    )


@contextlib.asynccontextmanager
async def open_store(settings: Settings, decode: bool = True) -> AsyncIterator[Store]:
    """The store alone (no secret made, no service built), closed on exit."""
    async with redis_url(settings) as url:
        store = Store(connect_to(settings, url, decode), settings.key_prefix, url)
        try:
            yield store
        finally:
            await store.close()


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, catalog: Catalog | None = None
) -> AsyncIterator[Runtime]:
    """Start everything the core needs and close it all on exit."""
    catalog = catalog or load_catalog()
    async with open_store(settings) as store:
        yield await build_runtime(settings, store, catalog, store.url)


async def build_runtime(
    settings: Settings, store: Store, catalog: Catalog, redis_url: str | None = None
) -> Runtime:
    """Put the parts together over an open store (at `redis_url`, REDIS_URL by default)."""
    secret = settings.bot_secret or await store.shared_secret()
    pledges = Pledges(store, catalog, secret)
    bookings = Bookings(store, catalog, pledges)
    renderer = CertificateRenderer(catalog, settings.public_base_url)
    certificates = Certificates(pledges, renderer, settings.data_dir / "certificates")
    payments = Payments(
        store,
        catalog,
        pledges,
        secret,
        settings.public_base_url,
        settings.donation_url or "",
        Merchant(settings.wechatpay_mchid, settings.wechatpay_appid or "")
        if settings.wechatpay_mchid
        else None,
    )
    claims = Claims(store, catalog, pledges, secret, settings.public_base_url)
    appeals = Appeals(store, catalog)
    name = settings.operator_name
    operator = Localized(name, name) if name else catalog.rules.issuer
    consents = Consents(store, operator, settings.public_base_url)
    mydata = MyData(store, pledges, claims, secret, settings.public_base_url)
    services = Services(
        catalog, pledges, bookings, appeals, certificates, payments, claims, consents, mydata
    )
    return Runtime(
        **services.shared(),
        settings=settings,
        redis_url=redis_url or settings.redis_url or "",
        store=store,
        engine=Engine(store, services, FLOWS, public_base_url=settings.public_base_url),
        admins=Admins(store, catalog),
    )
