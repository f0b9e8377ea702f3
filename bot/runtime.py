"""Wiring of the core: settings → Redis → store, catalogue, services, engine.

No channel is opened here (bot/channels/platforms.py), and no server started: the command that
owns the process finds its Redis (REDIS_URL, or the embedded server of bot/ops/embedded.py) and
opens the runtime over it."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator

import redis.asyncio as redis

from bot.catalog import Catalog, Localized, load_catalog
from bot.config import Settings, demo_payments
from bot.conversations import FLOWS
from bot.engine import Engine
from bot.errors import ConfigError
from bot.model import immutable
from bot.render.certificate import CertificateRenderer
from bot.services import Services
from bot.services.admins import Admins
from bot.services.appeals import Appeals
from bot.services.audit import Audit
from bot.services.bookings import Bookings
from bot.services.certificates import Certificates
from bot.services.claims import Claims
from bot.services.consent import Consents
from bot.services.mydata import MyData
from bot.services.notices import Notices
from bot.services.payments import Merchant, Payments
from bot.services.pledges import Pledges
from bot.services.teams import Teams
from bot.store import Store, connect
from bot.store.blobs import Blobs, DirectoryBlobs, open_blobs
from bot.store.durability import judge

log = logging.getLogger(__name__)


@immutable
class Runtime(Services):
    """The running core of one process: the services, and what stands behind them."""

    settings: Settings
    redis_url: str
    store: Store
    blobs: Blobs
    engine: Engine
    admins: Admins
    audit: Audit
    notices: Notices


async def ensure_durable(settings: Settings) -> None:
    """Before `serve` and `worker` start: the server behind REDIS_URL (or Sentinel) must keep
    data on disk and never evict, or the start stops saying what to set; ALLOW_VOLATILE_REDIS=1
    starts anyway, loudly. The embedded server is safe (append-only file, noeviction)."""
    if not (settings.redis_url or settings.redis_sentinels):
        return
    async with open_store(settings, settings.redis_url or "") as store:
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
async def open_store(settings: Settings, url: str, decode: bool = True) -> AsyncIterator[Store]:
    """The store at `url` alone (no secret made, no service built), closed on exit."""
    store = Store(connect_to(settings, url, decode), settings.key_prefix, url)
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, url: str | None = None, catalog: Catalog | None = None
) -> AsyncIterator[Runtime]:
    """Start everything the core needs over the Redis at `url` (REDIS_URL by default) and
    close it all on exit."""
    url = (settings.redis_url or "") if url is None else url
    async with open_store(settings, url) as store, blobs_of(settings) as blobs:
        yield await build_runtime(settings, store, catalog or load_catalog(), url, blobs)


def blobs_of(settings: Settings) -> contextlib.AbstractAsyncContextManager[Blobs]:
    """The deployment's blobs: BLOB_URL's bucket, or BOT_DATA_DIR/blobs."""
    keys = settings.blob_access_key_id, settings.blob_secret_access_key
    return open_blobs(
        settings.data_dir,
        settings.blob_url,
        settings.blob_endpoint,
        settings.blob_region,
        (keys[0], keys[1]) if keys[0] and keys[1] else None,
    )


async def build_runtime(
    settings: Settings,
    store: Store,
    catalog: Catalog,
    redis_url: str | None = None,
    blobs: Blobs | None = None,
) -> Runtime:
    """Put the parts together over an open store (at `redis_url`, REDIS_URL by default) and
    blobs (BOT_DATA_DIR/blobs by default)."""
    blobs = blobs or DirectoryBlobs(settings.data_dir / "blobs")
    secret = settings.bot_secret or await store.shared_secret()
    pledges = Pledges(store, catalog, secret)
    bookings = Bookings(store, catalog, pledges)
    folder = settings.data_dir / "certificates"
    certificates = Certificates(pledges, CertificateRenderer(), folder, settings.public_base_url)
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
        demo=demo_payments(settings),
    )
    audit = Audit(store.admins, settings.audit_keep_days)
    claims = Claims(store, blobs, catalog, pledges, audit, secret, settings.public_base_url)
    appeals = Appeals(store, blobs, catalog)
    name = settings.operator_name
    operator = Localized(name, name) if name else catalog.rules.issuer
    consents = Consents(store, operator, settings.public_base_url)
    mydata = MyData(
        store, pledges, claims, bookings, payments, certificates, secret, settings.public_base_url
    )
    teams = Teams(store, catalog, pledges, secret, settings.public_base_url)
    services = Services(
        catalog,
        pledges,
        bookings,
        appeals,
        certificates,
        payments,
        claims,
        consents,
        mydata,
        teams,
    )
    return Runtime(
        **services.shared(),
        settings=settings,
        redis_url=redis_url or settings.redis_url or "",
        store=store,
        blobs=blobs,
        engine=Engine(store, services, FLOWS, public_base_url=settings.public_base_url),
        admins=Admins(store, catalog, audit),
        audit=audit,
        notices=Notices(catalog, bookings, store.users, certificates, settings.public_base_url),
    )
