"""What the worker does once a day, whichever worker of all takes it (a daily claim in Redis):
retention (pledges older than the catalogue's years anonymised, claim photos whose time is up
deleted) and the nightly backup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from bot.ops.backup import Nightly
from bot.runtime import Runtime, connect_to
from bot.store.jobs import Daily

log = logging.getLogger(__name__)

BACKUP_LOOK_S = 60  # how often a worker looks whether the nightly backup is due
YEAR_DAYS = 365.25


class Retention:
    """Pledges older than the catalogue's retention anonymised, and claim photos kept their
    EVIDENCE days deleted, once a day."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._daily = Daily(runtime.store.jobs, "retention")

    async def due(self, now: datetime) -> int:
        """Run today's retention unless another worker has; how many pledges were anonymised
        (0 when another worker has today's run)."""
        if not await self._daily.claim(now.date().isoformat()):
            return 0
        years = self.runtime.catalog.privacy.retention_years
        cutoff = now - timedelta(days=round(YEAR_DAYS * years))
        done = await self.runtime.pledges.anonymise_before(cutoff)
        log.info("retention: %d pledges older than %d years anonymised", done, years)
        photos = await self.runtime.claims.drop_old_photos(now.timestamp())
        log.info("retention: %d claim photos past their days deleted", photos)
        return done


async def backups(runtime: Runtime, stop: asyncio.Event) -> None:
    """Take the nightly backup when it is due (looked at every minute) until `stop`."""
    settings = runtime.settings
    client = connect_to(settings, runtime.redis_url, decode=False)
    folder = settings.data_dir / "backups"
    nightly = Nightly(
        client, runtime.store, runtime.blobs, folder, settings.backup_keep, settings.backup_hour
    )
    try:
        while not stop.is_set():
            try:
                await nightly.due(runtime.catalog.local(datetime.now(UTC)))
            except Exception:
                log.exception("nightly backup failed; trying again tomorrow")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BACKUP_LOOK_S)
    finally:
        await client.aclose()
